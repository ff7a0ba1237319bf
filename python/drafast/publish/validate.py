"""Pool-level checks the per-device encoder cannot make, run before anything is published.

The API server validates one slice at a time; a pool whose counter sets clash or are missing
would be accepted slice by slice and then be unusable for the scheduler, so reject it here with
an error naming the pool and the offending device or counter set.
"""

from __future__ import annotations

from drafast.errors import ConfigError
from drafast.publish.sliceapi import OwnerRef
from drafast.resourceapi.names import check_driver_name, check_pool_name
from drafast.types import Pool

__all__ = ["check_driver_name", "check_pool"]


def check_pool(pool_name: str, pool: Pool, owner: OwnerRef | None) -> None:
    """Pool name, node selection against the owner, counter sets and counter references."""
    where = f"pool {pool_name}"
    check_pool_name(pool_name)
    if pool.node_selection.chosen > 1:
        raise ConfigError(f"{where}: more than one of nodeName, nodeSelector, allNodes")
    if pool.node_name is not None and (owner is None or owner.name != pool.node_name):
        # Node-local slices are owned by, watched for and wiped with their Node: this
        # reconciler can only manage those of the Node it runs for.
        raise ConfigError(f"{where}: nodeName {pool.node_name} is not this reconciler's node")
    _check_counters(where, pool)


def _check_counters(where: str, pool: Pool) -> None:
    sets: dict[str, set[str]] = {}
    for sl in pool.slices:
        for cs in sl.shared_counters:
            if cs.name in sets:
                raise ConfigError(f"{where}: counter set {cs.name} is defined twice")
            sets[cs.name] = set(cs.counters)
    for sl in pool.slices:
        for dev in sl.devices:
            for use in dev.consumes_counters:
                if use.counter_set not in sets:
                    raise ConfigError(
                        f"{where}: device {dev.name} consumes unknown counter set {use.counter_set}"
                    )
                unknown = sorted(set(use.counters) - sets[use.counter_set])
                if unknown:
                    raise ConfigError(
                        f"{where}: device {dev.name} consumes unknown counters {unknown} "
                        f"of counter set {use.counter_set}"
                    )
