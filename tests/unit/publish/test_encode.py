import pytest

from drafast.errors import ConfigError
from drafast.publish import pool_slice_specs
from drafast.types import (
    Capacity,
    CounterSet,
    Device,
    DeviceName,
    DriverResources,
    NodeName,
    Pool,
    PoolName,
    Slice,
    Version,
)


def pool_of(devices: list[Device], **kw) -> DriverResources:  # type: ignore[no-untyped-def]
    pool = Pool(slices=(Slice(devices=tuple(devices), **kw),), node_name=NodeName("node-1"))
    return DriverResources(pools={PoolName("node-1"): pool})


def encode_slices(driver: str, resources: DriverResources) -> list[dict]:  # type: ignore[type-arg]
    """The specs of every pool, wrapped like slices (names are the reconciler's business)."""
    return [
        {"spec": spec}
        for name, pool in sorted(resources.pools.items())
        for spec in pool_slice_specs(driver, name, pool)
    ]


def dev(i: int, **kw) -> Device:  # type: ignore[no-untyped-def]
    return Device(name=DeviceName(f"dev-{i}"), **kw)


def test_chunks_at_128_and_sets_slice_count() -> None:
    slices = encode_slices("d.example.com", pool_of([dev(i) for i in range(300)]))
    assert [len(s["spec"]["devices"]) for s in slices] == [128, 128, 44]
    assert {s["spec"]["pool"]["resourceSliceCount"] for s in slices} == {3}
    assert slices[0]["spec"]["nodeName"] == "node-1"


def test_chunks_at_64_with_taints_or_lists() -> None:
    devices = [dev(i, attributes={"l": (1, 2)}) for i in range(100)]
    assert [len(s["spec"]["devices"]) for s in encode_slices("d", pool_of(devices))] == [64, 36]


def test_counters_go_into_their_own_slice() -> None:
    res = pool_of([dev(0)], shared_counters=(CounterSet(name="c", counters={"m": "1"}),))
    specs = [s["spec"] for s in encode_slices("d", res)]
    assert "devices" not in specs[0] and specs[0]["sharedCounters"]
    assert "sharedCounters" not in specs[1] and specs[1]["devices"]


def test_attribute_encoding() -> None:
    d = dev(
        0,
        attributes={"s": "x", "i": 3, "b": True, "v": Version("1.2.3"), "ex.com/n": "y"},
        capacity={"mem": Capacity(value="1Gi")},
    )
    out = encode_slices("d", pool_of([d]))[0]["spec"]["devices"][0]
    assert out["attributes"] == {
        "b": {"bool": True},
        "ex.com/n": {"string": "y"},
        "i": {"int": 3},
        "s": {"string": "x"},
        "v": {"version": "1.2.3"},
    }
    assert out["capacity"] == {"mem": {"value": "1Gi"}}


def test_empty_pool_is_one_empty_slice() -> None:
    slices = encode_slices("d", pool_of([]))
    assert len(slices) == 1 and "devices" not in slices[0]["spec"]


@pytest.mark.parametrize(
    ("device", "message"),
    [
        (Device(name=DeviceName("Bad_Name")), "device Bad_Name: name is not a DNS label"),
        (dev(0, attributes={"s": "x" * 65}), "device dev-0 attribute s: string value longer"),
        (dev(0, attributes={f"a{i}": i for i in range(33)}), "more than 32 attributes"),
        (dev(0, attributes={"bad key": 1}), "'bad key' is not a qualified name"),
    ],
)
def test_validation_names_the_device(device: Device, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        encode_slices("d", pool_of([device]))


def test_duplicate_device_names() -> None:
    with pytest.raises(ConfigError, match="device dev-0 is listed twice"):
        encode_slices("d", pool_of([dev(0), dev(0)]))
