"""Semantic comparison of ResourceSlice specs, and detection of fields the API server dropped.

The API server re-serializes what it stores: quantities come back canonical (``1024Mi`` ->
``1Gi``), empty and false optional fields are omitted, taints get ``timeAdded``. Comparing raw
JSON would see a change on every sync and rewrite slices forever, so specs are compared after
:func:`normalize`.

Field paths name schema fields: ``devices[].taints``, ``devices[].capacity.*.requestPolicy``
(``[]`` = every list item, ``*`` = every key of a map).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drafast.types import JSON

# Keys whose values are maps keyed by user-chosen names, not schema fields.
_MAP_FIELDS = frozenset({"attributes", "capacity", "counters", "nodeAllocatableResources"})
# Optional booleans (Go *bool with omitempty): false and absent mean the same.
_BOOL_PTRS = frozenset(
    {"allNodes", "perDeviceNodeSelection", "bindsToNode", "allowMultipleAllocations"}
)
_QUANTITY_KEYS = frozenset({"value", "default", "min", "max", "step", "validValues"})

_GATES = {
    "taints": "DRADeviceTaints",
    "sharedCounters": "DRAPartitionableDevices",
    "consumesCounters": "DRAPartitionableDevices",
    "perDeviceNodeSelection": "DRAPartitionableDevices",
    "nodeName": "DRAPartitionableDevices",
    "nodeSelector": "DRAPartitionableDevices",
    "allNodes": "DRAPartitionableDevices",
    "bindsToNode": "DRADeviceBindingConditions",
    "bindingConditions": "DRADeviceBindingConditions",
    "bindingFailureConditions": "DRADeviceBindingConditions",
    "allowMultipleAllocations": "DRAConsumableCapacity",
    "requestPolicy": "DRAConsumableCapacity",
    "ints": "DRAListTypeAttributes",
    "bools": "DRAListTypeAttributes",
    "strings": "DRAListTypeAttributes",
    "versions": "DRAListTypeAttributes",
    "nodeAllocatableResources": "DRANodeAllocatableResources",
    "partitionTypeAttribute": "DRAPartitionableDevicesType",
    "skipNodeOperations": "DRAOptionalNodeOperations",
}
DEFAULT_GATES = (
    "DRAConsumableCapacity",
    "DRADeviceBindingConditions",
    "DRADeviceTaints",
    "DRAPartitionableDevices",
)


def _empty(value: Any) -> bool:
    return value is None or value in ("", [], {})


def normalize(value: Any, key: str = "", quantities: bool = False) -> Any:
    """A comparable form: empty/false optional fields removed, quantities (inside capacity and
    counter maps) as numbers, taint ``timeAdded`` removed (the server sets it; it is carried
    over from the existing slice, not compared)."""
    if isinstance(value, dict):
        out = {}
        inner = quantities or key in ("capacity", "counters")
        for k, v in value.items():
            if _empty(v) or (k in _BOOL_PTRS and v is False) or k == "timeAdded":
                continue
            out[k] = normalize(v, "*" if key in _MAP_FIELDS else k, inner)
        return out
    if isinstance(value, list):
        return [normalize(v, key, quantities) for v in value]
    if quantities and isinstance(value, str) and key in _QUANTITY_KEYS:
        # Only slices with capacities or counters get here: fractions and decimal load then.
        from drafast.resourceapi.quantity import parse_quantity

        q = parse_quantity(value)
        return value if q is None else q
    return value


def dropped_paths(sent: Any, stored: Any, path: str = "") -> set[str]:
    """Fields present in what was sent but missing from what the server stored."""
    found: set[str] = set()
    if isinstance(sent, dict) and isinstance(stored, dict):
        is_map = path.rsplit(".", 1)[-1] in _MAP_FIELDS
        for k, v in sent.items():
            if _empty(v) or (k in _BOOL_PTRS and v is False):
                continue
            sub = f"{path}.{'*' if is_map else k}" if path else k
            if k not in stored or _empty(stored[k]):
                found.add(sub)
            else:
                found |= dropped_paths(v, stored[k], sub)
    elif isinstance(sent, list) and isinstance(stored, list):
        for a, b in zip(sent, stored, strict=False):
            found |= dropped_paths(a, b, f"{path}[]")
    return found


def prune(value: Any, paths: Iterable[str]) -> Any:
    """A copy of ``value`` without the given field paths."""
    out = value
    for path in paths:
        out = _prune_one(out, path.split("."))
    return out


def _prune_one(value: Any, parts: list[str]) -> Any:
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    is_list = head.endswith("[]")
    name = head.removesuffix("[]")
    if not isinstance(value, dict):
        return value
    keys = list(value) if name == "*" else [name] if name in value else []
    out = dict(value)
    for k in keys:
        if not rest and not is_list:
            del out[k]
        elif is_list and isinstance(out[k], list):
            out[k] = [_prune_one(item, rest) for item in out[k]]
        else:
            out[k] = _prune_one(out[k], rest)
    return out


def likely_gates(paths: Iterable[str]) -> tuple[str, ...]:
    """Feature gates whose being off would explain the dropped fields."""
    gates = set()
    for path in paths:
        last = path.rsplit(".", 1)[-1].removesuffix("[]")
        if last in _GATES:
            gates.add(_GATES[last])
    return tuple(sorted(gates)) or DEFAULT_GATES


def same_spec(existing: JSON, desired: JSON, ignored: Iterable[str] = ()) -> bool:
    """Semantic equality of two slice specs, ignoring fields the server is known to drop."""
    paths = tuple(ignored)
    return bool(normalize(prune(existing, paths)) == normalize(prune(desired, paths)))
