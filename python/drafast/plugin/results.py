"""What the core answers per claim; the kubelet edge maps these 1:1 onto the wire messages."""

from __future__ import annotations

from dataclasses import dataclass

from drafast.types import DeviceName, PoolName, RequestName


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceResult:
    """One device in a prepare answer (wire: ``Device``)."""

    request_names: tuple[RequestName, ...]
    """Base request names (``req``, never ``req/sub``): the kubelet matches them exactly."""
    pool: PoolName
    device: DeviceName
    cdi_device_ids: tuple[str, ...]
    share_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PrepareResult:
    """One claim's prepare outcome (wire: ``NodePrepareResourceResponse``)."""

    devices: tuple[DeviceResult, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnprepareResult:
    """One claim's unprepare outcome (wire: ``NodeUnprepareResourceResponse``)."""

    error: str = ""
