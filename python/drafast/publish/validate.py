"""Pool-level checks the per-device encoder cannot make, run before anything is published.

The API server validates one slice at a time; a pool whose counter sets clash or are missing
would be accepted slice by slice and then be unusable for the scheduler, so reject it here with
an error naming the pool and the offending device or counter set.
"""

from __future__ import annotations

import re

from drafast.errors import ConfigError
from drafast.publish.sliceapi import OwnerRef
from drafast.types import Pool

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_POOL_NAME = 253
MAX_DRIVER_NAME = 63


def check_driver_name(driver: str) -> None:
    if len(driver) > MAX_DRIVER_NAME or not _DNS_SUBDOMAIN.match(driver):
        raise ConfigError(f"driver {driver!r}: not a DNS subdomain of at most 63 characters")


def check_pool(pool_name: str, pool: Pool, owner: OwnerRef | None) -> None:
    """Pool name, node selection against the owner, counter sets and counter references."""
    where = f"pool {pool_name}"
    if len(pool_name) > MAX_POOL_NAME or not all(
        _DNS_SUBDOMAIN.match(part) for part in pool_name.split("/")
    ):
        raise ConfigError(f"{where}: name is not DNS subdomains separated by '/' (<= 253)")
    if sum((pool.node_name is not None, pool.node_selector is not None, pool.all_nodes)) > 1:
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
            name = str(cs.get("name", ""))
            if name in sets:
                raise ConfigError(f"{where}: counter set {name} is defined twice")
            sets[name] = set(cs.get("counters") or {})
    for sl in pool.slices:
        for dev in sl.devices:
            for use in dev.consumes_counters:
                set_name = str(use.get("counterSet", ""))
                if set_name not in sets:
                    raise ConfigError(
                        f"{where}: device {dev.name} consumes unknown counter set {set_name}"
                    )
                unknown = sorted(set(use.get("counters") or {}) - sets[set_name])
                if unknown:
                    raise ConfigError(
                        f"{where}: device {dev.name} consumes unknown counters {unknown} "
                        f"of counter set {set_name}"
                    )
