"""DriverResources -> ``resource.k8s.io/v1`` ResourceSlice specs, validated client-side.

Devices are chunked into slices of at most 128 (64 when taints, counters or list attributes are
used); counter sets go into slices of their own (1.35+); every slice carries the pool's
``resourceSliceCount``. Field encoding and validation is :mod:`drafast.resourceapi.slicecodec`.
"""

from __future__ import annotations

from drafast.errors import ConfigError
from drafast.resourceapi import names
from drafast.resourceapi.slicecodec import SliceSpec, slice_spec_to_json
from drafast.types import JSON, Pool, PoolName, Slice


def _device_limit(sl: Slice) -> int:
    if any(d.uses_advanced_features for d in sl.devices):
        return names.MAX_DEVICES_PER_SLICE_ADVANCED
    return names.MAX_DEVICES_PER_SLICE


def _chunks(pool_name: str, pool: Pool) -> list[Slice]:
    chunks: list[Slice] = []
    seen: set[str] = set()
    per_set = names.MAX_COUNTER_SETS_PER_SLICE
    for sl in pool.slices:
        for i in range(0, len(sl.shared_counters), per_set):
            chunks.append(Slice(shared_counters=sl.shared_counters[i : i + per_set]))
        limit = _device_limit(sl)
        for i in range(0, len(sl.devices), limit):
            part = sl.devices[i : i + limit]
            for d in part:
                if d.name in seen:
                    raise ConfigError(f"pool {pool_name}: device {d.name} is listed twice")
                seen.add(d.name)
            chunks.append(
                Slice(devices=part, per_device_node_selection=sl.per_device_node_selection)
            )
    # An empty pool is published as one empty slice ("no devices", not "no pool").
    return chunks or [Slice()]


def pool_slice_specs(driver: str, pool_name: str, pool: Pool) -> list[JSON]:
    """The slice specs of one pool, in index order."""
    chunks = _chunks(pool_name, pool)
    return [
        slice_spec_to_json(
            SliceSpec(
                driver=driver,
                pool=PoolName(pool_name),
                generation=pool.generation,
                slice_count=len(chunks),
                node_selection=pool.node_selection,
                slice=chunk,
            )
        )
        for chunk in chunks
    ]
