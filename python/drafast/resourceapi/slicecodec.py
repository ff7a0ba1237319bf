"""Typed ResourceSlice values (:mod:`drafast.types`) <-> ``resource.k8s.io/v1`` JSON.

Encoding validates what the API server would reject, with errors naming the device and field,
and writes quantities in canonical form, so what is sent is what the server stores (the
publisher then sees no difference on the next sync). Decoding reads objects as the API server
(or the dir store) holds them; a malformed object raises :class:`ConfigError` naming the field.
Chunking devices into slices is the publisher's job (:mod:`drafast.publish.encode`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drafast.errors import ConfigError
from drafast.resourceapi import names
from drafast.types import (
    JSON,
    AttributeValue,
    Capacity,
    CounterConsumption,
    CounterSet,
    Device,
    DeviceName,
    NodeName,
    NodeSelection,
    PoolName,
    RequestPolicy,
    Slice,
    Taint,
    TaintEffect,
    ValidRange,
    Version,
)

# --------------------------------------------------------------------------- attributes

_LIST_KINDS: dict[type, str] = {bool: "bools", int: "ints", Version: "versions", str: "strings"}


def _check_string(value: str, where: str) -> None:
    if len(value) > names.MAX_ATTRIBUTE_STRING:
        raise ConfigError(
            f"{where}: string value longer than {names.MAX_ATTRIBUTE_STRING} characters"
        )


def attribute_to_json(value: AttributeValue, where: str) -> JSON:
    """One ``DeviceAttribute``: exactly one of int, bool, string, version or their lists."""
    if isinstance(value, bool):  # before int: bool is an int
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, str):
        _check_string(value, where)
        return {"version": str(value)} if isinstance(value, Version) else {"string": value}
    if isinstance(value, tuple) and value:
        kinds = {type(v) for v in value}
        kind = _LIST_KINDS.get(next(iter(kinds))) if len(kinds) == 1 else None
        if kind is not None:
            for v in value:
                if isinstance(v, str):
                    _check_string(v, where)
            return {kind: [str(v) if isinstance(v, Version) else v for v in value]}
    raise ConfigError(f"{where}: unsupported attribute value {value!r}")


def attribute_from_json(obj: JSON, where: str) -> AttributeValue:
    if not isinstance(obj, dict) or len(obj) != 1:
        raise ConfigError(f"{where}: not a device attribute (exactly one value): {obj!r}")
    ((kind, value),) = obj.items()
    if kind in ("bool", "int") and type(value) is (bool if kind == "bool" else int):
        return value
    if kind in ("string", "version") and isinstance(value, str):
        return Version(value) if kind == "version" else value
    lists = {"bools": bool, "ints": int, "strings": str, "versions": str}
    if (
        kind in lists
        and isinstance(value, list)
        and value
        and all(type(v) is lists[kind] for v in value)
    ):
        return tuple(Version(v) for v in value) if kind == "versions" else tuple(value)
    raise ConfigError(f"{where}: not a device attribute: {obj!r}")


def _attribute_values(value: AttributeValue) -> int:
    return len(value) if isinstance(value, tuple) else 1


# --------------------------------------------------------------------------- capacity


def _quantity(text: str, where: str) -> str:
    """Canonical form (what the server stores); errors say which field."""
    # Only devices with capacities or counters get here: fractions and decimal load then.
    from drafast.resourceapi.quantity import canonical_quantity

    try:
        return canonical_quantity(str(text))
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def request_policy_to_json(p: RequestPolicy, where: str) -> JSON:
    out: JSON = {}
    if p.default is not None:
        out["default"] = _quantity(p.default, f"{where} default")
    if p.valid_values and p.valid_range is not None:
        raise ConfigError(f"{where}: both validValues and validRange")
    if p.valid_values:
        if len(p.valid_values) > names.MAX_VALID_VALUES:
            raise ConfigError(f"{where}: more than {names.MAX_VALID_VALUES} validValues")
        out["validValues"] = [_quantity(v, f"{where} validValues") for v in p.valid_values]
    if p.valid_range is not None:
        r = p.valid_range
        rng: JSON = {"min": _quantity(r.min, f"{where} validRange.min")}
        if r.max is not None:
            rng["max"] = _quantity(r.max, f"{where} validRange.max")
        if r.step is not None:
            rng["step"] = _quantity(r.step, f"{where} validRange.step")
        out["validRange"] = rng
    return out


def request_policy_from_json(obj: JSON) -> RequestPolicy:
    rng = obj.get("validRange")
    return RequestPolicy(
        default=obj.get("default"),
        valid_values=tuple(obj.get("validValues") or ()),
        valid_range=None
        if rng is None
        else ValidRange(min=rng["min"], max=rng.get("max"), step=rng.get("step")),
    )


def capacity_to_json(c: Capacity, where: str) -> JSON:
    out: JSON = {"value": _quantity(c.value, where)}
    if c.request_policy is not None:
        out["requestPolicy"] = request_policy_to_json(c.request_policy, f"{where} requestPolicy")
    return out


def capacity_from_json(obj: JSON) -> Capacity:
    policy = obj.get("requestPolicy")
    return Capacity(
        value=str(obj["value"]),
        request_policy=None if policy is None else request_policy_from_json(policy),
    )


# --------------------------------------------------------------------------- taints, counters


def taint_to_json(t: Taint, where: str) -> JSON:
    names.check_label_name(t.key, f"{where} taint key {t.key!r}")
    names.check_label_value(t.value, f"{where} taint value {t.value!r}")
    out: JSON = {"key": t.key}
    if t.value:
        out["value"] = t.value
    out["effect"] = str(TaintEffect(t.effect))
    if t.time_added:
        out["timeAdded"] = t.time_added
    return out


def taint_from_json(obj: JSON) -> Taint:
    try:
        effect = TaintEffect(obj.get("effect", ""))
    except ValueError:
        effect = TaintEffect.NONE  # consumers treat unknown effects as None
    return Taint(
        key=str(obj["key"]),
        value=str(obj.get("value", "")),
        effect=effect,
        time_added=obj.get("timeAdded"),
    )


def _counters_to_json(counters: Mapping[str, str], where: str) -> JSON:
    if len(counters) > names.MAX_COUNTERS_PER_SET:
        raise ConfigError(f"{where}: more than {names.MAX_COUNTERS_PER_SET} counters")
    out: JSON = {}
    for name, value in sorted(counters.items()):
        names.check_dns_label(name, f"{where} counter {name!r}")
        out[name] = {"value": _quantity(value, f"{where} counter {name}")}
    return out


def _counters_from_json(obj: JSON | None) -> dict[str, str]:
    return {name: str(c["value"]) for name, c in (obj or {}).items()}


def counter_set_to_json(cs: CounterSet) -> JSON:
    where = f"counter set {cs.name}"
    names.check_dns_label(cs.name, f"counter set {cs.name!r}")
    return {"name": cs.name, "counters": _counters_to_json(cs.counters, where)}


def counter_set_from_json(obj: JSON) -> CounterSet:
    return CounterSet(name=str(obj["name"]), counters=_counters_from_json(obj.get("counters")))


def consumption_to_json(c: CounterConsumption, where: str) -> JSON:
    names.check_dns_label(c.counter_set, f"{where} counter set {c.counter_set!r}")
    return {
        "counterSet": c.counter_set,
        "counters": _counters_to_json(c.counters, f"{where} counter set {c.counter_set}"),
    }


def consumption_from_json(obj: JSON) -> CounterConsumption:
    return CounterConsumption(
        counter_set=str(obj["counterSet"]), counters=_counters_from_json(obj.get("counters"))
    )


# --------------------------------------------------------------------------- node selection


def node_selection_to_json(sel: NodeSelection, where: str) -> JSON:
    if sel.chosen > 1:
        raise ConfigError(f"{where}: more than one of nodeName, nodeSelector, allNodes")
    if sel.node_name is not None:
        return {"nodeName": sel.node_name}
    if sel.node_selector is not None:
        return {"nodeSelector": sel.node_selector}
    if sel.all_nodes:
        return {"allNodes": True}
    raise ConfigError(f"{where}: no node selection (nodeName, nodeSelector or allNodes)")


def node_selection_from_json(obj: JSON) -> NodeSelection | None:
    """The selection of a slice spec or device, None when it sets none of the three."""
    sel = NodeSelection(
        node_name=NodeName(obj["nodeName"]) if obj.get("nodeName") else None,
        node_selector=obj.get("nodeSelector"),
        all_nodes=bool(obj.get("allNodes")),
    )
    return sel if sel.chosen else None


# --------------------------------------------------------------------------- devices


def device_to_json(d: Device) -> JSON:
    where = f"device {d.name}"
    names.check_dns_label(d.name, f"{where}: name")
    if len(d.attributes) + len(d.capacity) > names.MAX_ATTRIBUTES_AND_CAPACITIES:
        limit = names.MAX_ATTRIBUTES_AND_CAPACITIES
        raise ConfigError(f"{where}: more than {limit} attributes and capacities")
    if sum(map(_attribute_values, d.attributes.values())) > names.MAX_ATTRIBUTE_VALUES:
        raise ConfigError(f"{where}: more than {names.MAX_ATTRIBUTE_VALUES} attribute values")
    out: JSON = {"name": d.name}
    if d.attributes:
        attrs: JSON = {}
        for k, v in sorted(d.attributes.items()):
            names.check_qualified_name(k, f"{where} attribute {k!r}")
            attrs[k] = attribute_to_json(v, f"{where} attribute {k}")
        out["attributes"] = attrs
    if d.capacity:
        caps: JSON = {}
        for k, c in sorted(d.capacity.items()):
            names.check_qualified_name(k, f"{where} capacity {k!r}")
            caps[k] = capacity_to_json(c, f"{where} capacity {k}")
        out["capacity"] = caps
    if d.allow_multiple_allocations:
        out["allowMultipleAllocations"] = True
    if d.consumes_counters:
        if len(d.consumes_counters) > names.MAX_COUNTER_CONSUMPTIONS_PER_DEVICE:
            limit = names.MAX_COUNTER_CONSUMPTIONS_PER_DEVICE
            raise ConfigError(f"{where}: consumes more than {limit} counter sets")
        out["consumesCounters"] = [consumption_to_json(c, where) for c in d.consumes_counters]
    if d.taints:
        if len(d.taints) > names.MAX_TAINTS_PER_DEVICE:
            raise ConfigError(f"{where}: more than {names.MAX_TAINTS_PER_DEVICE} taints")
        out["taints"] = [taint_to_json(t, where) for t in d.taints]
    if d.binds_to_node:
        out["bindsToNode"] = True
    for key, conditions in (
        ("bindingConditions", d.binding_conditions),
        ("bindingFailureConditions", d.binding_failure_conditions),
    ):
        if len(conditions) > names.MAX_BINDING_CONDITIONS:
            raise ConfigError(f"{where}: more than {names.MAX_BINDING_CONDITIONS} {key}")
        if conditions:
            out[key] = list(conditions)
    if d.node_selection is not None:
        out.update(node_selection_to_json(d.node_selection, where))
    return out


def device_from_json(obj: JSON) -> Device:
    where = f"device {obj.get('name')}"
    try:
        return Device(
            name=DeviceName(obj["name"]),
            attributes={
                k: attribute_from_json(v, f"{where} attribute {k}")
                for k, v in (obj.get("attributes") or {}).items()
            },
            capacity={k: capacity_from_json(v) for k, v in (obj.get("capacity") or {}).items()},
            allow_multiple_allocations=bool(obj.get("allowMultipleAllocations")),
            taints=tuple(taint_from_json(t) for t in obj.get("taints") or ()),
            consumes_counters=tuple(
                consumption_from_json(c) for c in obj.get("consumesCounters") or ()
            ),
            binds_to_node=bool(obj.get("bindsToNode")),
            binding_conditions=tuple(obj.get("bindingConditions") or ()),
            binding_failure_conditions=tuple(obj.get("bindingFailureConditions") or ()),
            node_selection=node_selection_from_json(obj),
        )
    except (KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"{where}: malformed device: {err!r}") from err


# --------------------------------------------------------------------------- slices


@dataclass(frozen=True, slots=True, kw_only=True)
class SliceSpec:
    """One ResourceSlice spec as typed values."""

    driver: str
    pool: PoolName
    generation: int
    slice_count: int
    node_selection: NodeSelection | None
    """None with per-device node selection."""
    slice: Slice


def slice_spec_to_json(s: SliceSpec) -> JSON:
    spec: JSON = {
        "driver": s.driver,
        "pool": {
            "name": s.pool,
            "generation": s.generation,
            "resourceSliceCount": s.slice_count,
        },
    }
    if s.slice.per_device_node_selection:
        spec["perDeviceNodeSelection"] = True
    else:
        sel = s.node_selection or NodeSelection()
        spec.update(node_selection_to_json(sel, f"pool {s.pool}"))
    if s.slice.devices:
        spec["devices"] = [device_to_json(d) for d in s.slice.devices]
    if s.slice.shared_counters:
        if len(s.slice.shared_counters) > names.MAX_COUNTER_SETS_PER_SLICE:
            limit = names.MAX_COUNTER_SETS_PER_SLICE
            raise ConfigError(f"pool {s.pool}: more than {limit} counter sets in one slice")
        spec["sharedCounters"] = [counter_set_to_json(c) for c in s.slice.shared_counters]
    return spec


def slice_spec_from_json(spec: JSON) -> SliceSpec:
    """A ``ResourceSlice.spec`` as typed values; malformed ones raise :class:`ConfigError`."""
    try:
        pool: Any = spec["pool"]
        return SliceSpec(
            driver=str(spec["driver"]),
            pool=PoolName(pool["name"]),
            generation=int(pool.get("generation", 0)),
            slice_count=int(pool.get("resourceSliceCount", 1)),
            node_selection=node_selection_from_json(spec),
            slice=Slice(
                devices=tuple(device_from_json(d) for d in spec.get("devices") or ()),
                shared_counters=tuple(
                    counter_set_from_json(c) for c in spec.get("sharedCounters") or ()
                ),
                per_device_node_selection=bool(spec.get("perDeviceNodeSelection")),
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ConfigError(f"resourceslice spec: malformed: {err!r}") from err
