"""ResourceClaim object (decoded JSON) -> typed :class:`drafast.types.Claim` for one driver.

Strict: every field this driver reads is type-checked, and a wrong type is a
:class:`drafast.errors.ClaimError` naming the claim and the field path
(``status.allocation.devices.results[0].adminAccess``) -- never a coercion such as
``bool("false") is True``. Other drivers' results and configs are skipped unread, apart from their
``driver`` field: they are not ours to judge.
"""

from __future__ import annotations

from typing import Any

from drafast.errors import ClaimError
from drafast.types import (
    JSON,
    AllocatedDevice,
    Claim,
    ClaimRef,
    ClaimUID,
    ConfigSource,
    Consumer,
    DeviceName,
    OpaqueConfig,
    PoolName,
)

_RESULTS = "status.allocation.devices.results"
_CONFIG = "status.allocation.devices.config"


def _malformed(ref: ClaimRef, message: str) -> ClaimError:
    return ClaimError(f"{ref}: malformed object: {message}")


def _obj(value: Any, ref: ClaimRef, where: str) -> JSON:
    if not isinstance(value, dict):
        raise _malformed(ref, f"{where} is not an object")
    return value


def _opt_obj(value: Any, ref: ClaimRef, where: str) -> JSON:
    return {} if value is None else _obj(value, ref, where)


def _list(value: Any, ref: ClaimRef, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _malformed(ref, f"{where} is not a list")
    return value


def _str(value: Any, ref: ClaimRef, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _malformed(ref, f"{where} must be a non-empty string")
    return value


def _opt_str(value: Any, ref: ClaimRef, where: str) -> str | None:
    return None if value is None else _str(value, ref, where)


def _text(value: Any, ref: ClaimRef, where: str) -> str:
    """An optional string that may be empty (``apiGroup`` is ``""`` for the core group)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _malformed(ref, f"{where} must be a string, not {type(value).__name__}")
    return value


def _bool(value: Any, ref: ClaimRef, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _malformed(ref, f"{where} must be a boolean, not {type(value).__name__}")
    return value


def _str_list(value: Any, ref: ClaimRef, where: str) -> tuple[str, ...]:
    return tuple(_str(v, ref, f"{where}[{i}]") for i, v in enumerate(_list(value, ref, where)))


def _quantities(value: Any, ref: ClaimRef, where: str) -> dict[str, str]:
    """A ``map[QualifiedName]Quantity``: quantities travel as strings (``"4Gi"``)."""
    return {
        _str(k, ref, f"{where} key"): _str(v, ref, f"{where}[{k}]")
        for k, v in _opt_obj(value, ref, where).items()
    }


def claim_ref(obj: JSON) -> ClaimRef:
    """The :class:`ClaimRef` of a ResourceClaim object from its own metadata (for claims that
    come from a list or watch, not from the kubelet)."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    ns, name, uid = meta.get("namespace"), meta.get("name"), meta.get("uid")
    if not (isinstance(ns, str) and ns and isinstance(name, str) and name):
        raise ClaimError(
            f"ResourceClaim {ns!r}/{name!r}: malformed object: metadata.namespace and "
            "metadata.name must be non-empty strings"
        )
    if not isinstance(uid, str) or not uid:
        raise ClaimError(
            f"claim {ns}/{name}: malformed object: metadata.uid must be a non-empty string"
        )
    return ClaimRef(namespace=ns, name=name, uid=ClaimUID(uid))


def allocated_to(obj: JSON, driver: str) -> bool:
    """Whether ``obj`` may carry allocation results for ``driver``: False only when it surely
    does not (not allocated, or well-formed results all for other drivers). A malformed object
    answers True, so that :func:`resolve_claim` gets to say what is wrong with it."""
    node: Any = obj
    for key in ("status", "allocation", "devices", "results"):
        if not isinstance(node, dict):
            return node is not None
        node = node.get(key)
    if not isinstance(node, list):
        return node is not None
    return any(not isinstance(r, dict) or r.get("driver") == driver for r in node)


def resolve_claim(obj: JSON, ref: ClaimRef, driver: str) -> Claim:
    """Check the claim is the one the kubelet means and is allocated; keep this driver's part."""
    meta = _obj(obj.get("metadata"), ref, "metadata")
    uid = meta.get("uid")
    if uid != ref.uid:
        raise ClaimError(f"{ref}: UID mismatch: the cluster has UID {uid!r} (claim was replaced)")
    status = _opt_obj(obj.get("status"), ref, "status")
    allocation = status.get("allocation")
    if allocation is None or allocation == {}:
        raise ClaimError(f"{ref}: not allocated")
    alloc = _obj(allocation, ref, "status.allocation")
    alloc_devices = _opt_obj(alloc.get("devices"), ref, "status.allocation.devices")

    devices: list[AllocatedDevice] = []
    other_drivers: set[str] = set()
    for i, res in enumerate(_list(alloc_devices.get("results"), ref, _RESULTS)):
        where = f"{_RESULTS}[{i}]"
        r = _obj(res, ref, where)
        result_driver = _str(r.get("driver"), ref, f"{where}.driver")
        if result_driver != driver:
            other_drivers.add(result_driver)
            continue
        devices.append(_allocated_device(r, ref, where))
    if not devices and other_drivers:
        raise ClaimError(
            f"{ref}: allocated only to other drivers ({', '.join(sorted(other_drivers))}), "
            f"nothing for {driver}"
        )

    configs: list[OpaqueConfig] = []
    for i, c in enumerate(_list(alloc_devices.get("config"), ref, _CONFIG)):
        where = f"{_CONFIG}[{i}]"
        cfg = _obj(c, ref, where)
        if cfg.get("opaque") is None:
            continue  # a configuration kind other than opaque: not for drivers
        opaque = _obj(cfg["opaque"], ref, f"{where}.opaque")
        if _str(opaque.get("driver"), ref, f"{where}.opaque.driver") != driver:
            continue
        source_value = cfg.get("source")
        if not isinstance(source_value, str) or source_value not in set(ConfigSource):
            raise ClaimError(f"{ref}: {where}.source {source_value!r} is unknown")
        source = ConfigSource(source_value)
        configs.append(
            OpaqueConfig(
                source=source,
                requests=_str_list(cfg.get("requests"), ref, f"{where}.requests"),
                parameters=_obj(opaque.get("parameters"), ref, f"{where}.opaque.parameters"),
            )
        )
    # Class configs first, then claim configs: later entries win (the usual convention).
    configs.sort(key=lambda c: c.source is ConfigSource.CLAIM)

    consumers = []
    for i, c in enumerate(_list(status.get("reservedFor"), ref, "status.reservedFor")):
        where = f"status.reservedFor[{i}]"
        r = _obj(c, ref, where)
        consumers.append(
            Consumer(
                api_group=_text(r.get("apiGroup"), ref, f"{where}.apiGroup"),
                resource=_str(r.get("resource"), ref, f"{where}.resource"),
                name=_str(r.get("name"), ref, f"{where}.name"),
                uid=_text(r.get("uid"), ref, f"{where}.uid"),
            )
        )
    return Claim(
        ref=ref,
        devices=tuple(devices),
        configs=tuple(configs),
        reserved_for=tuple(consumers),
        obj=obj,
    )


def _allocated_device(r: JSON, ref: ClaimRef, where: str) -> AllocatedDevice:
    return AllocatedDevice(
        request=_str(r.get("request"), ref, f"{where}.request"),
        pool=PoolName(_str(r.get("pool"), ref, f"{where}.pool")),
        device=DeviceName(_str(r.get("device"), ref, f"{where}.device")),
        admin_access=_bool(r.get("adminAccess"), ref, f"{where}.adminAccess"),
        share_id=_opt_str(r.get("shareID"), ref, f"{where}.shareID"),
        consumed_capacity=_quantities(r.get("consumedCapacity"), ref, f"{where}.consumedCapacity"),
        binding_conditions=_str_list(r.get("bindingConditions"), ref, f"{where}.bindingConditions"),
        binding_failure_conditions=_str_list(
            r.get("bindingFailureConditions"), ref, f"{where}.bindingFailureConditions"
        ),
    )
