"""Claims as a driver's prepare sees them (:mod:`drafast.types`; imported on first use)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from drafast.types import JSON, ClaimRef, DeviceName, PoolName, RequestName, base_request


@dataclass(frozen=True, slots=True, kw_only=True)
class Consumer:
    """One entry of ``status.reservedFor`` (usually a Pod)."""

    api_group: str
    resource: str
    name: str
    uid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocatedDevice:
    """One ``status.allocation.devices.results[]`` entry for this driver."""

    request: str
    """Full request name, ``req`` or ``req/sub``."""
    pool: PoolName
    device: DeviceName
    admin_access: bool = False
    share_id: str | None = None
    consumed_capacity: Mapping[str, str] = field(default_factory=dict)
    binding_conditions: tuple[str, ...] = ()
    binding_failure_conditions: tuple[str, ...] = ()

    @property
    def base_request(self) -> RequestName:
        return base_request(self.request)


class ConfigSource(enum.StrEnum):
    CLASS = "FromClass"
    CLAIM = "FromClaim"


@dataclass(frozen=True, slots=True, kw_only=True)
class OpaqueConfig:
    """One opaque config entry for this driver, in precedence order (class first, then claim)."""

    source: ConfigSource
    requests: tuple[str, ...]
    """Requests it applies to; empty means all requests of the claim."""
    parameters: JSON

    def applies_to(self, request: str) -> bool:
        return (
            not self.requests or request in self.requests or base_request(request) in self.requests
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """A resolved, checked ResourceClaim: only what this driver needs to prepare it."""

    ref: ClaimRef
    devices: tuple[AllocatedDevice, ...]
    """Allocation results for this driver only (possibly empty)."""
    configs: tuple[OpaqueConfig, ...]
    """Opaque configs for this driver only; later entries take precedence."""
    reserved_for: tuple[Consumer, ...]
    obj: JSON = field(default_factory=dict, repr=False, compare=False)
    """The full object as read, for drivers that need more (annotations, labels)."""

    def configs_for(self, request: str) -> tuple[OpaqueConfig, ...]:
        return tuple(c for c in self.configs if c.applies_to(request))
