"""ResourceClaim object (decoded JSON) -> typed :class:`drafast.types.Claim`, with the checks the
Go helper makes and precise errors naming the claim."""

from __future__ import annotations

from typing import Any

from drafast.errors import ClaimError
from drafast.types import (
    JSON,
    AllocatedDevice,
    Claim,
    ClaimRef,
    ConfigSource,
    Consumer,
    DeviceName,
    OpaqueConfig,
    PoolName,
)


def _obj(value: Any, ref: ClaimRef, where: str) -> JSON:
    if not isinstance(value, dict):
        raise ClaimError(f"{ref}: malformed object: {where} is not an object")
    return value


def _list(value: Any, ref: ClaimRef, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ClaimError(f"{ref}: malformed object: {where} is not a list")
    return value


def _str(value: Any, ref: ClaimRef, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ClaimError(f"{ref}: malformed object: {where} must be a non-empty string")
    return value


def resolve_claim(obj: JSON, ref: ClaimRef, driver: str) -> Claim:
    """Check the claim is the one the kubelet means and is allocated; keep this driver's part."""
    meta = _obj(obj.get("metadata"), ref, "metadata")
    uid = meta.get("uid")
    if uid != ref.uid:
        raise ClaimError(f"{ref}: UID mismatch: the cluster has UID {uid!r} (claim was replaced)")
    status = _obj(obj.get("status") or {}, ref, "status")
    allocation = status.get("allocation")
    if not allocation:
        raise ClaimError(f"{ref}: not allocated")
    alloc = _obj(allocation, ref, "status.allocation")
    alloc_devices = _obj(alloc.get("devices") or {}, ref, "status.allocation.devices")

    devices: list[AllocatedDevice] = []
    other_drivers: set[str] = set()
    for i, res in enumerate(_list(alloc_devices.get("results"), ref, "allocation results")):
        where = f"status.allocation.devices.results[{i}]"
        r = _obj(res, ref, where)
        if r.get("driver") != driver:
            other_drivers.add(str(r.get("driver")))
            continue
        devices.append(
            AllocatedDevice(
                request=_str(r.get("request"), ref, f"{where}.request"),
                pool=PoolName(_str(r.get("pool"), ref, f"{where}.pool")),
                device=DeviceName(_str(r.get("device"), ref, f"{where}.device")),
                admin_access=bool(r.get("adminAccess", False)),
                share_id=r.get("shareID"),
                consumed_capacity=dict(r.get("consumedCapacity") or {}),
                binding_conditions=tuple(r.get("bindingConditions") or ()),
                binding_failure_conditions=tuple(r.get("bindingFailureConditions") or ()),
            )
        )
    if not devices and other_drivers:
        raise ClaimError(
            f"{ref}: allocated only to other drivers ({', '.join(sorted(other_drivers))}), "
            f"nothing for {driver}"
        )

    configs: list[OpaqueConfig] = []
    for i, c in enumerate(_list(alloc_devices.get("config"), ref, "allocation config")):
        where = f"status.allocation.devices.config[{i}]"
        cfg = _obj(c, ref, where)
        opaque = cfg.get("opaque")
        if not opaque or _obj(opaque, ref, f"{where}.opaque").get("driver") != driver:
            continue
        try:
            source = ConfigSource(str(cfg.get("source")))
        except ValueError as err:
            raise ClaimError(f"{ref}: {where}.source {cfg.get('source')!r} is unknown") from err
        params = opaque.get("parameters")
        configs.append(
            OpaqueConfig(
                source=source,
                requests=tuple(_list(cfg.get("requests"), ref, f"{where}.requests")),
                parameters=_obj(params, ref, f"{where}.opaque.parameters"),
            )
        )
    # Class configs first, then claim configs: later entries win (the usual convention).
    configs.sort(key=lambda c: c.source is ConfigSource.CLAIM)

    consumers = []
    for i, c in enumerate(_list(status.get("reservedFor"), ref, "status.reservedFor")):
        r = _obj(c, ref, f"status.reservedFor[{i}]")
        consumers.append(
            Consumer(
                api_group=str(r.get("apiGroup", "")),
                resource=_str(r.get("resource"), ref, f"status.reservedFor[{i}].resource"),
                name=_str(r.get("name"), ref, f"status.reservedFor[{i}].name"),
                uid=str(r.get("uid", "")),
            )
        )
    return Claim(
        ref=ref,
        devices=tuple(devices),
        configs=tuple(configs),
        reserved_for=tuple(consumers),
        obj=obj,
    )
