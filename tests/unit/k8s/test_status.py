"""ClaimStatusWriter: this driver's status.devices entries, merged, conflict-safe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from drafast.driver import ClaimStatusSink
from drafast.errors import ClaimError, ClaimNotFoundError
from drafast.k8s import (
    ClaimStatusWriter,
    Condition,
    ConflictError,
    DeviceKey,
    DeviceStatus,
    KubeAPI,
    KubeSettings,
    NetworkData,
    allocated_claim,
    claim_path,
)
from drafast.k8s.status import merge_device_statuses
from drafast.testing.fakeapi import FakeAPIServer
from drafast.types import ClaimRef, ClaimUID, DriverName

DRIVER = DriverName("me.example.com")
CLAIMS = "/apis/resource.k8s.io/v1/namespaces/ns1/resourceclaims"
STATUS = claim_path("ns1", "c1") + "/status"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def api(server: FakeAPIServer, tmp_path: Path) -> AsyncIterator[KubeAPI]:
    async with KubeAPI(KubeSettings(kubeconfig=server.kubeconfig(tmp_path / "kc"))) as client:
        yield client


@pytest.fixture
def ref(server: FakeAPIServer) -> ClaimRef:
    """Claim ns1/c1 with devices p/d0 and p/d1 of this driver and p/x of another one, whose
    status entry is already there."""
    claim = allocated_claim(
        namespace="ns1", name="c1", driver=DRIVER, devices=[("r", "p", "d0"), ("r", "p", "d1")]
    )
    results = claim["status"]["allocation"]["devices"]["results"]
    results.append({"request": "r", "driver": "other.example.com", "pool": "p", "device": "x"})
    claim["status"]["devices"] = [OTHER]
    stored = server.add(CLAIMS, claim)
    return ClaimRef(namespace="ns1", name="c1", uid=ClaimUID(stored["metadata"]["uid"]))


OTHER: dict[str, Any] = {
    "driver": "other.example.com",
    "pool": "p",
    "device": "x",
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Theirs",
            "message": "",
            "lastTransitionTime": "2025-01-01T00:00:00Z",
        }
    ],
}


def devices(server: FakeAPIServer) -> list[dict[str, Any]]:
    d: list[dict[str, Any]] = server.objects[claim_path("ns1", "c1")]["status"]["devices"]
    return d


def ready(status: str = "True", reason: str = "Prepared", message: str = "") -> Condition:
    return Condition(type="Ready", status=status, reason=reason, message=message)  # type: ignore[arg-type]


async def test_creates_entries_and_leaves_other_drivers_alone(
    api: KubeAPI, server: FakeAPIServer, ref: ClaimRef
) -> None:
    writer = ClaimStatusWriter(api, DRIVER, clock=Clock())
    net = NetworkData(interface_name="eth1", ips=("192.0.2.5/24",), hardware_address="aa:bb")
    assert await writer.set(
        ref,
        [
            DeviceStatus(
                pool="p", device="d0", conditions=[ready()], data={"k": 1}, network_data=net
            )
        ],
    )
    assert devices(server) == [
        OTHER,
        {
            "driver": DRIVER,
            "pool": "p",
            "device": "d0",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Prepared",
                    "message": "",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
            "data": {"k": 1},
            "networkData": {
                "interfaceName": "eth1",
                "ips": ["192.0.2.5/24"],
                "hardwareAddress": "aa:bb",
            },
        },
    ]
    put = [r for r in server.requests if r.method == "PUT"]
    assert [r.path for r in put] == [STATUS]
    assert put[0].json()["metadata"]["resourceVersion"], "the write is resourceVersion-guarded"


async def test_conditions_merge_by_type_and_transition_time_moves_only_on_change(
    api: KubeAPI, server: FakeAPIServer, ref: ClaimRef
) -> None:
    clock = Clock()
    writer = ClaimStatusWriter(api, DRIVER, clock=clock)
    attached = Condition(type="Attached", status="True", reason="Attached")
    await writer.set(
        ref, [DeviceStatus(pool="p", device="d0", conditions=[attached, ready("False", "Waiting")])]
    )

    clock.now = T0 + timedelta(minutes=1)
    await writer.set(
        ref, [DeviceStatus(pool="p", device="d0", conditions=[ready("True", "Prepared", "ok")])]
    )
    conds = {c["type"]: c for c in devices(server)[1]["conditions"]}
    assert list(conds) == ["Attached", "Ready"], "conditions not named are preserved, in order"
    assert conds["Attached"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert conds["Ready"] == {
        "type": "Ready",
        "status": "True",
        "reason": "Prepared",
        "message": "ok",
        "lastTransitionTime": "2026-01-01T00:01:00Z",
    }

    clock.now = T0 + timedelta(minutes=2)  # same status, new message: the time stays
    await writer.set(
        ref,
        [DeviceStatus(pool="p", device="d0", conditions=[ready("True", "Prepared", "still ok")])],
    )
    conds = {c["type"]: c for c in devices(server)[1]["conditions"]}
    assert conds["Ready"]["message"] == "still ok"
    assert conds["Ready"]["lastTransitionTime"] == "2026-01-01T00:01:00Z"


async def test_data_and_network_data_are_kept_when_not_given(
    api: KubeAPI, server: FakeAPIServer, ref: ClaimRef
) -> None:
    writer = ClaimStatusWriter(api, DRIVER, clock=Clock())
    await writer.set(
        ref,
        [
            DeviceStatus(
                pool="p", device="d0", data={"a": 1}, network_data=NetworkData(interface_name="x")
            )
        ],
    )
    await writer.set(ref, [DeviceStatus(pool="p", device="d0", conditions=[ready()])])
    entry = devices(server)[1]
    assert entry["data"] == {"a": 1}
    assert entry["networkData"] == {"interfaceName": "x"}
    await writer.set(ref, [DeviceStatus(pool="p", device="d0", data={"b": 2})])
    assert devices(server)[1]["data"] == {"b": 2}


async def test_no_write_when_nothing_changes(
    api: KubeAPI, server: FakeAPIServer, ref: ClaimRef
) -> None:
    clock = Clock()
    writer = ClaimStatusWriter(api, DRIVER, clock=clock)
    update = [DeviceStatus(pool="p", device="d1", conditions=[ready()], data={"a": 1})]
    assert await writer.set(ref, update)
    clock.now = T0 + timedelta(hours=1)
    assert not await writer.set(ref, update)
    assert [r.method for r in server.requests].count("PUT") == 1


async def test_conflict_rereads_and_keeps_the_concurrent_change(
    api: KubeAPI, server: FakeAPIServer, ref: ClaimRef
) -> None:
    writer = ClaimStatusWriter(api, DRIVER, clock=Clock())
    first = True
    original_get = api.get

    async def get_then_interfere(path: str) -> dict[str, Any]:
        nonlocal first
        claim = await original_get(path)
        if first:  # another writer updates the claim between our read and our write
            first = False
            await api.patch(STATUS, {"status": {"devices": [OTHER, {**OTHER, "device": "y"}]}})
        return claim

    api.get = get_then_interfere  # type: ignore[method-assign]
    assert await writer.set(ref, [DeviceStatus(pool="p", device="d0", conditions=[ready()])])
    assert [d["device"] for d in devices(server)] == ["x", "y", "d0"]
    assert [r.method for r in server.requests] == ["GET", "PATCH", "PUT", "GET", "PUT"]
    assert server.requests[2].path == STATUS


async def test_persistent_conflict_surfaces(
    api: KubeAPI, server: FakeAPIServer, ref: ClaimRef
) -> None:
    server.fail("PUT", STATUS, 409, reason="Conflict", message="modified", times=2)
    writer = ClaimStatusWriter(api, DRIVER, clock=Clock(), max_conflicts=2)
    with pytest.raises(ConflictError, match=r"^resourceclaims/status ns1/c1: update failed"):
        await writer.set(ref, [DeviceStatus(pool="p", device="d0", conditions=[ready()])])


async def test_remove_only_this_drivers_entries(
    api: KubeAPI, server: FakeAPIServer, ref: ClaimRef
) -> None:
    writer = ClaimStatusWriter(api, DRIVER, clock=Clock())
    await writer.set(
        ref, [DeviceStatus(pool="p", device=d, conditions=[ready()]) for d in ("d0", "d1")]
    )
    assert await writer.remove(ref, [DeviceKey(pool="p", device="d0")])
    assert [d["device"] for d in devices(server)] == ["x", "d1"]
    assert await writer.remove(ref)
    assert devices(server) == [OTHER]
    assert not await writer.remove(ref)


async def test_device_not_allocated_to_this_driver(api: KubeAPI, ref: ClaimRef) -> None:
    writer = ClaimStatusWriter(api, DRIVER)
    with pytest.raises(ClaimError) as err:
        await writer.set(ref, [DeviceStatus(pool="p", device="x")])  # the other driver's
    assert str(err.value) == (
        f"{ref}: device p/x is not allocated to it by driver {DRIVER}; cannot write its status"
    )


async def test_unallocated_missing_and_replaced_claims(
    api: KubeAPI, server: FakeAPIServer, ref: ClaimRef
) -> None:
    writer = ClaimStatusWriter(api, DRIVER)
    update = [DeviceStatus(pool="p", device="d0")]
    replaced = ClaimRef(namespace="ns1", name="c1", uid=ClaimUID("old-uid"))
    with pytest.raises(ClaimNotFoundError, match=r"\(old-uid\): replaced by a claim with UID"):
        await writer.set(replaced, update)
    missing = ClaimRef(namespace="ns1", name="nope", uid=ClaimUID("u"))
    with pytest.raises(ClaimNotFoundError, match="not found in the API server"):
        await writer.set(missing, update)
    bare = server.add(CLAIMS, {"metadata": {"name": "bare"}, "spec": {}})
    unallocated = ClaimRef(namespace="ns1", name="bare", uid=ClaimUID(bare["metadata"]["uid"]))
    with pytest.raises(ClaimError, match="not allocated; no device status to write"):
        await writer.set(unallocated, update)


def test_merge_is_pure_and_keys_include_share_id() -> None:
    current = [{"driver": DRIVER, "pool": "p", "device": "d", "shareID": "s1", "data": {"a": 1}}]
    merged = merge_device_statuses(
        current, DRIVER, [DeviceStatus(pool="p", device="d", share_id="s2", data={"b": 1})], "T"
    )
    assert current == [
        {"driver": DRIVER, "pool": "p", "device": "d", "shareID": "s1", "data": {"a": 1}}
    ]
    assert merged == [
        current[0],
        {"driver": DRIVER, "pool": "p", "device": "d", "shareID": "s2", "data": {"b": 1}},
    ]


def test_is_a_claim_status_sink(api: KubeAPI) -> None:
    sink: ClaimStatusSink = ClaimStatusWriter(api, DRIVER)  # mypy checks the protocol
    assert isinstance(sink, ClaimStatusWriter)
