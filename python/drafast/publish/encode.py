"""DriverResources -> ``resource.k8s.io/v1`` ResourceSlice objects, validated client-side.

Devices are chunked into slices of at most 128 (64 when taints, counters or list attributes are
used); counter sets go into slices of their own; every slice carries the pool's
``resourceSliceCount``.
"""

from __future__ import annotations

import re
from typing import Any

from drafast.errors import ConfigError
from drafast.types import JSON, Capacity, Device, DriverResources, Pool, Version

API_VERSION = "resource.k8s.io/v1"
MAX_DEVICES = 128
MAX_DEVICES_ADVANCED = 64
MAX_ATTRS_AND_CAPS = 32
MAX_STRING = 64
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_C_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _check_qualified(key: str, where: str) -> None:
    domain, _, ident = key.rpartition("/")
    if not _C_ID.match(ident) or (
        domain and (len(domain) > 63 or not _DNS_SUBDOMAIN.match(domain))
    ):
        raise ConfigError(f"{where}: {key!r} is not a qualified name ([domain/]C identifier)")


def _attr_json(value: Any, where: str) -> JSON:
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, Version):
        return {"version": str(value)}
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ConfigError(f"{where}: string value longer than {MAX_STRING} characters")
        return {"string": value}
    if isinstance(value, tuple) and value:
        kinds = {type(v) for v in value}
        if kinds == {bool}:
            return {"bools": list(value)}
        if kinds == {int}:
            return {"ints": list(value)}
        if kinds == {Version}:
            return {"versions": [str(v) for v in value]}
        if kinds == {str}:
            return {"strings": list(value)}
    raise ConfigError(f"{where}: unsupported attribute value {value!r}")


def device_json(d: Device) -> JSON:
    where = f"device {d.name}"
    if not _DNS_LABEL.match(d.name):
        raise ConfigError(f"{where}: name is not a DNS label (lower-case alphanumerics and '-')")
    if len(d.attributes) + len(d.capacity) > MAX_ATTRS_AND_CAPS:
        raise ConfigError(f"{where}: more than {MAX_ATTRS_AND_CAPS} attributes and capacities")
    out: JSON = {"name": d.name}
    if d.attributes:
        attrs = {}
        for k, v in sorted(d.attributes.items()):
            _check_qualified(k, f"{where} attribute")
            attrs[k] = _attr_json(v, f"{where} attribute {k}")
        out["attributes"] = attrs
    if d.capacity:
        caps: JSON = {}
        for k, c in sorted(d.capacity.items()):
            _check_qualified(k, f"{where} capacity")
            caps[k] = _capacity_json(c)
        out["capacity"] = caps
    if d.allow_multiple_allocations:
        out["allowMultipleAllocations"] = True
    if d.consumes_counters:
        out["consumesCounters"] = list(d.consumes_counters)
    if d.taints:
        out["taints"] = list(d.taints)
    if d.binds_to_node:
        out["bindsToNode"] = True
    if d.binding_conditions:
        out["bindingConditions"] = list(d.binding_conditions)
    if d.binding_failure_conditions:
        out["bindingFailureConditions"] = list(d.binding_failure_conditions)
    if d.node_selection:
        out.update(d.node_selection)
    return out


def _capacity_json(c: Capacity) -> JSON:
    out: JSON = {"value": c.value}
    if c.request_policy:
        out["requestPolicy"] = c.request_policy
    return out


def _node_selection(pool: Pool) -> JSON:
    if pool.node_name:
        return {"nodeName": pool.node_name}
    if pool.node_selector:
        return {"nodeSelector": pool.node_selector}
    if pool.all_nodes:
        return {"allNodes": True}
    raise ConfigError("pool has no node selection (nodeName, nodeSelector or allNodes)")


def pool_slice_specs(driver: str, pool_name: str, pool: Pool) -> list[JSON]:
    """The slice specs of one pool, in index order."""
    chunks: list[tuple[list[JSON], list[JSON], bool]] = []  # devices, counters, per-device sel.
    seen: set[str] = set()
    for sl in pool.slices:
        for i in range(0, len(sl.shared_counters), 8):
            chunks.append(([], list(sl.shared_counters[i : i + 8]), False))
        limit = (
            MAX_DEVICES_ADVANCED
            if any(d.uses_advanced_features for d in sl.devices)
            else MAX_DEVICES
        )
        for i in range(0, len(sl.devices), limit):
            part = sl.devices[i : i + limit]
            for d in part:
                if d.name in seen:
                    raise ConfigError(f"pool {pool_name}: device {d.name} is listed twice")
                seen.add(d.name)
            chunks.append(([device_json(d) for d in part], [], sl.per_device_node_selection))
    if not chunks:  # an empty pool is published as one empty slice ("no devices", not "no pool")
        chunks.append(([], [], False))
    specs = []
    for devices, counters, per_device in chunks:
        spec: JSON = {
            "driver": driver,
            "pool": {
                "name": pool_name,
                "generation": pool.generation,
                "resourceSliceCount": len(chunks),
            },
        }
        spec.update({"perDeviceNodeSelection": True} if per_device else _node_selection(pool))
        if devices:
            spec["devices"] = devices
        if counters:
            spec["sharedCounters"] = counters
        specs.append(spec)
    return specs


def _name_part(s: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", s.lower()).strip("-.")


def encode_slices(driver: str, resources: DriverResources) -> list[JSON]:
    """Complete ResourceSlice objects with deterministic names ``<driver>-<pool>-<index>``."""
    out = []
    for pool_name, pool in sorted(resources.pools.items()):
        for index, spec in enumerate(pool_slice_specs(driver, pool_name, pool)):
            name = f"{_name_part(driver)}-{_name_part(pool_name)}-{index:05x}"[:253]
            out.append(
                {
                    "apiVersion": API_VERSION,
                    "kind": "ResourceSlice",
                    "metadata": {"name": name},
                    "spec": spec,
                }
            )
    return out
