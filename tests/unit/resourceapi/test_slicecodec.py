"""Typed slice values <-> resource.k8s.io/v1 JSON, both ways, and what encoding rejects."""

from __future__ import annotations

import pytest

from drafast.errors import ConfigError
from drafast.resourceapi.slicecodec import (
    SliceSpec,
    device_from_json,
    device_to_json,
    slice_spec_from_json,
    slice_spec_to_json,
)
from drafast.types import (
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

FULL = Device(
    name=DeviceName("gpu-0"),
    attributes={
        "model": "a100",
        "cores": 108,
        "mig": True,
        "driverVersion": Version("1.2.3"),
        "example.com/ids": (1, 2),
        "flags": (True, False),
        "names": ("a", "b"),
        "versions": (Version("1.0.0"),),
    },
    capacity={
        "memory": Capacity(value="40Gi"),
        "example.com/share": Capacity(
            value="100",
            request_policy=RequestPolicy(
                default="10", valid_range=ValidRange(min="10", max="100", step="10")
            ),
        ),
        "slots": Capacity(value="4", request_policy=RequestPolicy(valid_values=("1", "2", "4"))),
    },
    allow_multiple_allocations=True,
    taints=(
        Taint(key="example.com/broken", value="yes", effect=TaintEffect.NO_EXECUTE),
        Taint(key="maint", effect=TaintEffect.NONE, time_added="2026-08-01T10:00:00Z"),
    ),
    consumes_counters=(CounterConsumption(counter_set="mem", counters={"bytes": "5Gi"}),),
    binds_to_node=True,
    binding_conditions=("example.com/attached",),
    binding_failure_conditions=("example.com/failed",),
    node_selection=NodeSelection(node_name=NodeName("n1")),
)


def test_device_round_trip_keeps_everything() -> None:
    out = device_to_json(FULL)
    assert device_from_json(out) == FULL
    assert out["attributes"]["driverVersion"] == {"version": "1.2.3"}
    assert out["attributes"]["versions"] == {"versions": ["1.0.0"]}
    assert out["attributes"]["flags"] == {"bools": [True, False]}
    assert out["capacity"]["example.com/share"] == {
        "value": "100",
        "requestPolicy": {"default": "10", "validRange": {"min": "10", "max": "100", "step": "10"}},
    }
    assert out["taints"][0] == {"key": "example.com/broken", "value": "yes", "effect": "NoExecute"}
    assert out["consumesCounters"] == [
        {"counterSet": "mem", "counters": {"bytes": {"value": "5Gi"}}}
    ]
    assert out["nodeName"] == "n1"


def test_quantities_are_sent_in_canonical_form() -> None:
    d = Device(name=DeviceName("d"), capacity={"m": Capacity(value="1024Mi")})
    assert device_to_json(d)["capacity"] == {"m": {"value": "1Gi"}}


def test_unknown_taint_effects_read_as_none() -> None:
    obj = {"name": "d", "taints": [{"key": "k", "effect": "Future"}]}
    assert device_from_json(obj).taints == (Taint(key="k", effect=TaintEffect.NONE),)


BOTH = RequestPolicy(valid_values=("1",), valid_range=ValidRange(min="1"))


@pytest.mark.parametrize(
    ("device", "message"),
    [
        (Device(name=DeviceName("d"), capacity={"m": Capacity(value="lots")}),
         "device d capacity m: quantity 'lots' is not a quantity"),
        (Device(name=DeviceName("d"), capacity={"m": Capacity(value="1", request_policy=BOTH)}),
         "both validValues and validRange"),
        (Device(name=DeviceName("d"), taints=(Taint(key="bad key", effect=TaintEffect.NONE),)),
         "device d taint key 'bad key' is not a label name"),
        (Device(name=DeviceName("d"), taints=(Taint(key="k", effect=TaintEffect.NONE),) * 17),
         "more than 16 taints"),
        (Device(name=DeviceName("d"), consumes_counters=(
            CounterConsumption(counter_set="Mem", counters={}),)),
         "device d counter set 'Mem' is not a DNS label"),
        (Device(name=DeviceName("d"), binding_conditions=("c",) * 5),
         "more than 4 bindingConditions"),
        (Device(name=DeviceName("d"), attributes={"l": tuple(range(49))}),
         "more than 48 attribute values"),
        (Device(name=DeviceName("d"), attributes={"l": (1, "a")}),  # type: ignore[dict-item]
         "unsupported attribute value"),
        (Device(name=DeviceName("d"), node_selection=NodeSelection(
            node_name=NodeName("n"), all_nodes=True)),
         "device d: more than one of nodeName, nodeSelector, allNodes"),
    ],
)  # fmt: skip
def test_encoding_rejects_what_the_api_server_would(device: Device, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        device_to_json(device)


@pytest.mark.parametrize(
    "obj",
    [
        {"name": "d", "attributes": {"a": {}}},
        {"name": "d", "attributes": {"a": {"int": 1, "bool": True}}},
        {"name": "d", "attributes": {"a": {"int": True}}},
        {"name": "d", "attributes": {"a": {"ints": []}}},
        {"name": "d", "capacity": {"m": {}}},
        {"attributes": {}},
    ],
)
def test_decoding_malformed_devices_names_the_device(obj: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match="device"):
        device_from_json(obj)


def test_slice_spec_round_trip() -> None:
    spec = SliceSpec(
        driver="gpu.example.com",
        pool=PoolName("fabric/rack-1"),
        generation=3,
        slice_count=2,
        node_selection=NodeSelection(node_selector={"nodeSelectorTerms": [{"matchFields": []}]}),
        slice=Slice(shared_counters=(CounterSet(name="mem", counters={"bytes": "80Gi"}),)),
    )
    out = slice_spec_to_json(spec)
    assert out == {
        "driver": "gpu.example.com",
        "pool": {"name": "fabric/rack-1", "generation": 3, "resourceSliceCount": 2},
        "nodeSelector": {"nodeSelectorTerms": [{"matchFields": []}]},
        "sharedCounters": [{"name": "mem", "counters": {"bytes": {"value": "80Gi"}}}],
    }
    assert slice_spec_from_json(out) == spec
    per_device = SliceSpec(
        driver="d",
        pool=PoolName("p"),
        generation=0,
        slice_count=1,
        node_selection=None,
        slice=Slice(devices=(FULL,), per_device_node_selection=True),
    )
    assert slice_spec_from_json(slice_spec_to_json(per_device)) == per_device
    with pytest.raises(ConfigError, match="resourceslice spec: malformed"):
        slice_spec_from_json({"driver": "d"})
