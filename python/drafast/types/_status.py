"""What drivers write to a claim's ``status.devices`` (:mod:`drafast.types`; imported on first
use)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """A ``metav1.Condition``; ``lastTransitionTime`` is managed by the writer."""

    type: str
    status: ConditionStatus
    reason: str
    """Required and non-empty, CamelCase (``Prepared``, ``AttachFailed``)."""
    message: str = ""
    observed_generation: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkData:
    interface_name: str = ""
    ips: tuple[str, ...] = ()
    """CIDR form, e.g. ``192.0.2.5/24``."""
    hardware_address: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceKey:
    """One allocated device of this driver (``share_id`` for consumable-capacity shares)."""

    pool: str
    device: str
    share_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatus:
    """What to write for one device. ``conditions`` are upserted by type; ``data`` and
    ``network_data`` replace what is there when given and leave it alone when None."""

    pool: str
    device: str
    share_id: str | None = None
    conditions: Sequence[Condition] = ()
    data: Mapping[str, Any] | None = None
    """Driver-specific JSON object (at most 10 KiB)."""
    network_data: NetworkData | None = None

    @property
    def key(self) -> DeviceKey:
        return DeviceKey(pool=self.pool, device=self.device, share_id=self.share_id)
