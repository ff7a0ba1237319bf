"""Per-pool sync plan: existing slices + desired specs -> the fewest deletes, updates, creates.

Pure functions (no I/O), following the Go resourceslice controller (1.36+):

1. The pool's current generation is the highest among its slices; lower ones are obsolete.
2. Slices are matched to desired slices by the hex index that starts their name; unparsable,
   out-of-range and duplicate indexes are obsolete (this also migrates from random names).
3. A matched slice is changed when its spec differs semantically (see :mod:`.compare`).
4. Generation: the driver's, if higher; else kept when nothing is added and at most one slice
   changed (one slice rewritten in place is atomic for consumers); else bumped by one and every
   matched slice is rewritten, so consumers never mix two states of the pool.
5. The caller applies deletes, then updates, then creates.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from drafast.publish.compare import same_spec
from drafast.resourceapi.names import API_VERSION, slice_index
from drafast.types import JSON


def generation_of(obj: JSON) -> int:
    return int(obj.get("spec", {}).get("pool", {}).get("generation", 0))


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolPlan:
    generation: int
    deletes: tuple[JSON, ...] = ()
    """Existing objects to delete (with their UID and resourceVersion as preconditions)."""
    updates: tuple[JSON, ...] = ()
    """Full objects to PUT (existing metadata, desired spec)."""
    creates: tuple[JSON, ...] = ()
    """Full objects to POST (``generateName``)."""

    @property
    def empty(self) -> bool:
        return not (self.deletes or self.updates or self.creates)


def plan_pool(
    *,
    desired: Sequence[JSON],
    driver_generation: int,
    existing: Sequence[JSON],
    generate_name: Sequence[str],
    owner_references: Sequence[JSON] = (),
    ignored_fields: Iterable[str] = (),
) -> PoolPlan:
    """Plan one pool. ``desired`` are specs in index order (empty: the pool is gone);
    ``generate_name[i]`` names slice ``i``; ``ignored_fields`` are paths the server drops."""
    ignored = tuple(ignored_fields)
    current = max((generation_of(o) for o in existing), default=0)
    obsolete: list[JSON] = []
    candidates: dict[int, list[JSON]] = {}
    for obj in sorted(existing, key=lambda o: str(o["metadata"]["name"])):
        index = slice_index(str(obj["metadata"]["name"]))
        if (
            generation_of(obj) < current
            or index is None
            or index >= len(desired)
            # nodeName is immutable: a slice on the wrong node cannot be updated, only replaced.
            or obj["spec"].get("nodeName") != desired[index].get("nodeName")
        ):
            obsolete.append(obj)
        else:
            candidates.setdefault(index, []).append(obj)

    def at(index: int, generation: int) -> JSON:
        spec = copy.deepcopy(dict(desired[index]))
        spec["pool"] = {**spec["pool"], "generation": generation}
        return spec

    matched: dict[int, JSON] = {}
    for index, objs in candidates.items():
        # Of duplicates keep one that needs no write, if any.
        objs.sort(key=lambda o: not same_spec(o["spec"], at(index, current), ignored))
        matched[index] = objs[0]
        obsolete.extend(objs[1:])

    changed = [i for i, o in matched.items() if not same_spec(o["spec"], at(i, current), ignored)]
    added = [i for i in range(len(desired)) if i not in matched]
    if driver_generation > current:
        generation, rewrite = driver_generation, sorted(matched)
    elif not added and len(changed) <= 1:
        generation, rewrite = current, changed
    else:
        generation, rewrite = current + 1, sorted(matched)

    times = _taint_times(existing)
    updates = []
    for i in rewrite:
        obj = matched[i]
        updates.append({**obj, "spec": _with_taint_times(at(i, generation), times)})
    creates = [
        {
            "apiVersion": API_VERSION,
            "kind": "ResourceSlice",
            "metadata": _create_metadata(generate_name[i], owner_references),
            "spec": _with_taint_times(at(i, generation), times),
        }
        for i in added
    ]
    return PoolPlan(
        generation=generation,
        deletes=tuple(obsolete),
        updates=tuple(updates),
        creates=tuple(creates),
    )


def _create_metadata(generate: str, owner_references: Sequence[JSON]) -> JSON:
    meta: JSON = {"generateName": generate}
    if owner_references:
        meta["ownerReferences"] = [dict(r) for r in owner_references]
    return meta


_TaintKey = tuple[str, str, str, str]


def _taint_times(existing: Iterable[JSON]) -> dict[_TaintKey, str]:
    """timeAdded of every published taint, by device and taint, so rewrites keep it."""
    times: dict[_TaintKey, str] = {}
    for obj in existing:
        for dev in obj.get("spec", {}).get("devices") or ():
            for t in dev.get("taints") or ():
                if t.get("timeAdded"):
                    times[_taint_key(str(dev.get("name")), t)] = str(t["timeAdded"])
    return times


def _taint_key(device: str, taint: JSON) -> _TaintKey:
    return (device, str(taint.get("key")), str(taint.get("value", "")), str(taint.get("effect")))


def _with_taint_times(spec: JSON, times: dict[_TaintKey, str]) -> JSON:
    for dev in spec.get("devices") or ():
        taints = dev.get("taints")
        if not taints:
            continue
        dev["taints"] = [
            t
            if t.get("timeAdded") or _taint_key(dev["name"], t) not in times
            else {**t, "timeAdded": times[_taint_key(dev["name"], t)]}
            for t in taints
        ]
    return spec
