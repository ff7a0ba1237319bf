"""The reconciler's pure parts: slice names, the per-pool plan, semantic comparison, dropped
fields, pool validation and backoff."""

from __future__ import annotations

from fractions import Fraction

import pytest

from drafast.errors import ConfigError
from drafast.k8s.errors import ConflictError, api_error
from drafast.k8s.paths import ObjectRef, slice_path
from drafast.publish.compare import (
    DEFAULT_GATES,
    dropped_paths,
    likely_gates,
    prune,
    same_spec,
)
from drafast.publish.sliceapi import OwnerRef
from drafast.publish.slicesync import plan_pool
from drafast.publish.validate import check_driver_name, check_pool
from drafast.resourceapi.names import is_dns_subdomain
from drafast.resourceapi.names import slice_generate_name as generate_name
from drafast.resourceapi.names import slice_index as parse_index
from drafast.resourceapi.quantity import parse_quantity
from drafast.runtime.backoff import Backoff
from drafast.types import (
    JSON,
    CounterConsumption,
    CounterSet,
    Device,
    DeviceName,
    NodeName,
    Pool,
    Slice,
)


def spec(devices: list[str], *, count: int = 1, gen: int = 0, node: str = "n1") -> JSON:
    return {
        "driver": "d.example.com",
        "nodeName": node,
        "pool": {"name": "n1", "generation": gen, "resourceSliceCount": count},
        "devices": [{"name": d} for d in devices],
    }


def existing(name: str, s: JSON) -> JSON:
    return {"metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "7"}, "spec": s}


# ------------------------------------------------------------------ names


def test_generate_name_is_index_driver_owner() -> None:
    assert generate_name(0, "gpu.example.com", "node-1") == "00000-gpu.example.com-node-1-"
    assert generate_name(0x12345, "d", "n").startswith("12345-")
    assert generate_name(0x100000, "d", "n").startswith("100000-")


@pytest.mark.parametrize(
    ("driver", "owner"),
    [
        ("gpu.example.com", "a" * 300),
        ("gpu.example.com", "Fabric/Rack_1"),
        ("x." * 40 + "y", "node.-1"),
        ("gpu.example.com", "n" * 30 + "." + "m" * 30),
    ],
)
def test_generated_names_stay_valid_after_the_random_suffix(driver: str, owner: str) -> None:
    base = generate_name(3, driver, owner)
    assert len(base) <= 58 and base.startswith("00003-")
    assert is_dns_subdomain(base + "x7k2p"), base
    assert parse_index(base + "x7k2p") == 3


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("00000-d-n-abcde", 0),
        ("0001f-d-n-abcde", 31),
        ("node-1-d-abcde", None),  # 1.34 random names
        ("0001-d-n-abcde", None),  # too short
        ("000001-d-n-abcde", None),  # not canonical
        ("0000A-d-n-abcde", None),  # upper case
        ("00000", None),
    ],
)
def test_parse_index(name: str, index: int | None) -> None:
    assert parse_index(name) == index


# ------------------------------------------------------------------ plan


def test_plan_for_a_new_pool_creates_everything_at_generation_one() -> None:
    plan = plan_pool(
        desired=[spec(["a"], count=2), spec(["b"], count=2)],
        driver_generation=0,
        existing=[],
        generate_name=["00000-x-", "00001-x-"],
        owner_references=[{"kind": "Node"}],
    )
    assert (len(plan.creates), plan.updates, plan.deletes, plan.generation) == (2, (), (), 1)
    assert plan.creates[1]["metadata"] == {
        "generateName": "00001-x-",
        "ownerReferences": [{"kind": "Node"}],
    }
    assert {c["spec"]["pool"]["generation"] for c in plan.creates} == {1}


def test_plan_keeps_generation_for_a_single_changed_slice() -> None:
    old = [
        existing("00000-x-a", spec(["a"], count=2, gen=5)),
        existing("00001-x-b", spec(["b"], count=2, gen=5)),
    ]
    plan = plan_pool(
        desired=[spec(["a"], count=2), spec(["b2"], count=2)],
        driver_generation=0,
        existing=old,
        generate_name=["00000-x-", "00001-x-"],
    )
    assert plan.generation == 5 and not plan.creates and not plan.deletes
    (update,) = plan.updates
    assert update["metadata"] == old[1]["metadata"]  # PUT with the read resourceVersion
    assert update["spec"]["devices"] == [{"name": "b2"}]


def test_plan_replaces_a_slice_on_another_node_instead_of_updating_it() -> None:
    old = [existing("00000-x-a", spec(["a"], gen=1, node="other"))]
    plan = plan_pool(
        desired=[spec(["a"])], driver_generation=0, existing=old, generate_name=["00000-x-"]
    )
    assert plan.deletes == tuple(old) and len(plan.creates) == 1 and not plan.updates
    assert plan.generation == 2


def test_plan_for_a_removed_pool_deletes_all() -> None:
    old = [existing("00000-x-a", spec(["a"], gen=1)), existing("zz", spec([], gen=1))]
    plan = plan_pool(desired=[], driver_generation=0, existing=old, generate_name=[])
    assert plan.deletes == tuple(sorted(old, key=lambda o: o["metadata"]["name"]))
    assert not plan.updates and not plan.creates


def test_plan_ignores_fields_the_server_drops() -> None:
    sent = spec(["a"], gen=1)
    sent["devices"][0]["taints"] = [{"key": "k", "effect": "NoSchedule"}]
    plan = plan_pool(
        desired=[sent],
        driver_generation=0,
        existing=[existing("00000-x-a", spec(["a"], gen=1))],
        generate_name=["00000-x-"],
        ignored_fields=["devices[].taints"],
    )
    assert plan.empty


# ------------------------------------------------------------------ comparison


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1Gi", Fraction(2**30)),
        ("1024Mi", Fraction(2**30)),
        ("1.5k", Fraction(1500)),
        ("500m", Fraction(1, 2)),
        ("1e3", Fraction(1000)),
        ("2E", Fraction(2 * 10**18)),
        ("4", Fraction(4)),
        ("lots", None),
    ],
)
def test_parse_quantity(text: str, value: Fraction | None) -> None:
    assert parse_quantity(text) == value


def test_same_spec_is_semantic() -> None:
    a = spec(["a"])
    a["devices"][0].update(
        capacity={"mem": {"value": "1024Mi"}},
        taints=[{"key": "k", "value": "1", "effect": "NoSchedule"}],
        bindsToNode=False,
        attributes={"ok": {"bool": False}},
    )
    b = spec(["a"])
    b["devices"][0].update(
        capacity={"mem": {"value": "1Gi"}},
        taints=[{"key": "k", "value": "1", "effect": "NoSchedule", "timeAdded": "2026-01-01"}],
        attributes={"ok": {"bool": False}},
    )
    assert same_spec(a, b)
    b["devices"][0]["attributes"] = {"ok": {"bool": True}}
    assert not same_spec(a, b)
    # Only capacities and counters are quantities; a taint value "01" is not "1".
    one, zero_one = spec(["a"]), spec(["a"])
    one["devices"][0]["taints"] = [{"key": "k", "value": "1", "effect": "NoSchedule"}]
    zero_one["devices"][0]["taints"] = [{"key": "k", "value": "01", "effect": "NoSchedule"}]
    assert not same_spec(one, zero_one)


def test_dropped_paths_and_prune() -> None:
    sent = {
        "sharedCounters": [{"name": "c", "counters": {"x": {"value": "1"}}}],
        "devices": [
            {
                "name": "a",
                "bindsToNode": True,
                "capacity": {"m": {"value": "1", "requestPolicy": {"default": "1"}}},
            }
        ],
    }
    stored = {"devices": [{"name": "a", "capacity": {"m": {"value": "1"}}}]}
    paths = dropped_paths(sent, stored)
    assert paths == {
        "sharedCounters",
        "devices[].bindsToNode",
        "devices[].capacity.*.requestPolicy",
    }
    assert prune(sent, paths) == stored
    assert likely_gates(paths) == (
        "DRAConsumableCapacity",
        "DRADeviceBindingConditions",
        "DRAPartitionableDevices",
    )
    assert likely_gates({"devices[].somethingNew"}) == DEFAULT_GATES


# ------------------------------------------------------------------ validation


def _dev(name: str, uses: tuple[CounterConsumption, ...] = ()) -> Device:
    return Device(name=DeviceName(name), consumes_counters=uses)


def _pool(*slices: Slice) -> Pool:
    return Pool(slices=slices, node_name=NodeName("n1"))


OWNER = OwnerRef(name=NodeName("n1"), uid="u")
MEM = CounterSet(name="mem", counters={"bytes": "8Gi"})


def test_check_pool_accepts_known_counters() -> None:
    use = CounterConsumption(counter_set="mem", counters={"bytes": "1Gi"})
    check_pool(
        "n1", _pool(Slice(shared_counters=(MEM,)), Slice(devices=(_dev("a", (use,)),))), OWNER
    )


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        (_pool(Slice(shared_counters=(MEM,)), Slice(shared_counters=(MEM,))), "defined twice"),
        (
            _pool(
                Slice(devices=(_dev("a", (CounterConsumption(counter_set="gpu", counters={}),)),))
            ),
            "device a consumes unknown counter set gpu",
        ),
        (
            _pool(
                Slice(shared_counters=(MEM,)),
                Slice(
                    devices=(
                        _dev(
                            "a", (CounterConsumption(counter_set="mem", counters={"cores": "1"}),)
                        ),
                    )
                ),
            ),
            r"device a consumes unknown counters \['cores'\]",
        ),
        (Pool(slices=(), node_name=NodeName("n2")), "not this reconciler's node"),
        (Pool(slices=(), node_name=NodeName("n1"), all_nodes=True), "more than one"),
    ],
)
def test_check_pool_rejects(pool: Pool, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_pool("n1", pool, OWNER)


def test_check_pool_names() -> None:
    check_pool("fabric/rack-1", Pool(slices=(), all_nodes=True), None)
    with pytest.raises(ConfigError, match="pool Bad_Pool"):
        check_pool("Bad_Pool", Pool(slices=(), all_nodes=True), None)
    with pytest.raises(ConfigError, match="not this reconciler's node"):
        check_pool("n1", _pool(), None)
    with pytest.raises(ConfigError, match="driver"):
        check_driver_name("Not A Driver")


# ------------------------------------------------------------------ backoff, errors


def test_backoff_is_jittered_exponential_and_capped() -> None:
    low, high = (
        Backoff(initial=1.0, cap=8.0, rng=lambda: 0.0),
        Backoff(initial=1.0, cap=8.0, rng=lambda: 1.0),
    )
    assert [low.delay(n) for n in (1, 2, 3, 4, 10, 1000)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [high.delay(n) for n in (1, 2, 3, 4, 10, 1000)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_api_errors_carry_their_status_and_class() -> None:
    err = api_error(
        verb="update",
        target=ObjectRef.from_path(slice_path("s")),
        status=409,
        reason="Conflict",
        api_message="x",
    )
    assert isinstance(err, ConflictError) and err.status == 409
