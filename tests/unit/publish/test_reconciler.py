"""SliceReconciler against an in-memory API server that behaves like the real one where it
matters: generateName suffixes, resourceVersions, UIDs, delete preconditions, 409 on stale
writes, watch events with 410 after compaction, dropped fields, outages."""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from drafast.k8s.errors import ApiError, api_error
from drafast.k8s.paths import ObjectRef, slice_path
from drafast.publish.reconciler import SliceReconciler
from drafast.publish.sliceapi import OwnerRef
from drafast.runtime.backoff import Backoff
from drafast.types import (
    JSON,
    Capacity,
    CounterSet,
    Device,
    DeviceName,
    DriverResources,
    NodeName,
    Pool,
    PoolName,
    Slice,
    Taint,
    TaintEffect,
)

DRIVER = "gpu.example.com"
NODE = "node-1"
OWNER = OwnerRef(name=NodeName(NODE), uid="node-uid-1")
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def api_failure(status: int, message: str) -> ApiError:
    """What the API server's client raises for ``status``."""
    target = ObjectRef.from_path(slice_path())
    return api_error(
        verb="fake", target=target, status=status, reason="Scripted", api_message=message
    )


class FakeSliceAPI:
    """ResourceSlices in memory, with the API server behaviours the reconciler relies on."""

    def __init__(self) -> None:
        self.objects: dict[str, JSON] = {}
        self.rv = 1000
        self.history: list[tuple[int, JSON]] = []
        self.compacted = 0
        self.calls: list[tuple[str, str]] = []
        self.deletes: list[tuple[str, str, str]] = []
        self.lists: list[str] = []
        self.drop_device_fields: set[str] = set()
        self.canonical_quantities: dict[str, str] = {}
        self.fail_calls = 0
        self.down = False
        self.hold_events = False
        self.conflict_next_update = False
        self._changed = asyncio.Event()
        self._watch_epoch = 0
        self._rng = random.Random(7)

    # -------------------------------------------------------------- test controls

    @property
    def writes(self) -> int:
        return sum(1 for verb, _ in self.calls if verb in ("create", "update", "delete"))

    def count(self, verb: str) -> int:
        return sum(1 for v, _ in self.calls if v == verb)

    def slices(self, pool: str | None = None) -> list[JSON]:
        objs = sorted(self.objects.values(), key=lambda o: o["metadata"]["name"])
        return [o for o in objs if pool is None or o["spec"]["pool"]["name"] == pool]

    def put(self, name: str, spec: JSON) -> JSON:
        """Store a slice as another writer would (no generateName)."""
        obj = {"metadata": {"name": name}, "spec": copy.deepcopy(spec)}
        return self._store(obj, "ADDED")

    def delete_behind(self, name: str) -> None:
        """Someone else (the kubelet's wipe) deletes a slice."""
        obj = self.objects.pop(name)
        self._event("DELETED", obj)

    def set_down(self, down: bool) -> None:
        self.down = down
        self._wake_watchers()

    def release_events(self) -> None:
        self.hold_events = False
        self._wake_watchers()

    def close_watches(self) -> None:
        """End every open watch, as the server does at its timeout."""
        self._watch_epoch += 1
        self._wake_watchers()

    def compact(self) -> None:
        self.compacted = self.rv

    # -------------------------------------------------------------- SliceAPI

    async def list_slices(self, field_selector: str) -> tuple[list[JSON], str]:
        self._gate("list")
        self.lists.append(field_selector)
        sel = _parse_selector(field_selector)
        items = [copy.deepcopy(o) for o in self.slices() if _matches(o, sel)]
        return items, str(self.rv)

    async def watch_slices(self, field_selector: str, resource_version: str) -> AsyncIterator[JSON]:
        self._gate("watch")
        start = int(resource_version)
        if start < self.compacted:
            raise api_failure(410, "too old resource version")
        sel = _parse_selector(field_selector)
        epoch = self._watch_epoch
        pos = next((i for i, (rv, _) in enumerate(self.history) if rv > start), len(self.history))
        while True:
            waiter = self._changed
            while pos < len(self.history) and not self.hold_events:
                _, event = self.history[pos]
                pos += 1
                if _matches(event["object"], sel):
                    yield copy.deepcopy(event)
            await waiter.wait()
            if self.down:
                raise api_failure(503, "watch broken")
            if epoch != self._watch_epoch:
                return

    async def create_slice(self, body: JSON) -> JSON:
        self._gate("create")
        obj = copy.deepcopy(body)
        meta = obj["metadata"]
        assert "name" not in meta and meta["generateName"]
        suffix = "".join(self._rng.choice(_SUFFIX_ALPHABET) for _ in range(5))
        meta["name"] = meta.pop("generateName")[:58] + suffix
        self.calls.append(("create", meta["name"]))
        return copy.deepcopy(self._store(obj, "ADDED"))

    async def update_slice(self, body: JSON) -> JSON:
        self._gate("update")
        name = body["metadata"]["name"]
        current = self.objects.get(name)
        if current is None:
            raise api_failure(404, f"resourceslice {name} not found")
        if self.conflict_next_update:  # another writer gets there first
            self.conflict_next_update = False
            self._store(copy.deepcopy(current), "MODIFIED")
            current = self.objects[name]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise api_failure(409, f"resourceslice {name}: object has been modified")
        if body["spec"].get("nodeName") != current["spec"].get("nodeName"):
            raise api_failure(422, f"resourceslice {name}: spec.nodeName is immutable")
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = current["metadata"]["uid"]
        self.calls.append(("update", name))
        return copy.deepcopy(self._store(obj, "MODIFIED"))

    async def delete_slice(self, name: str, uid: str, resource_version: str) -> None:
        self._gate("delete")
        current = self.objects.get(name)
        if current is None:
            return
        meta = current["metadata"]
        if uid != meta["uid"] or resource_version != meta["resourceVersion"]:
            raise api_failure(409, f"resourceslice {name}: precondition failed")
        self.calls.append(("delete", name))
        self.deletes.append((name, uid, resource_version))
        del self.objects[name]
        self._event("DELETED", current)

    # -------------------------------------------------------------- internals

    def _gate(self, verb: str) -> None:
        if self.down:
            raise api_failure(503, f"{verb}: api server unavailable")
        if self.fail_calls:
            self.fail_calls -= 1
            raise api_failure(500, f"{verb}: internal error")

    def _store(self, obj: JSON, kind: str) -> JSON:
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        for dev in obj["spec"].get("devices") or ():
            for field in self.drop_device_fields:
                dev.pop(field, None)
            for taint in dev.get("taints") or ():
                taint.setdefault("timeAdded", "2026-08-01T10:00:00Z")
            for cap in (dev.get("capacity") or {}).values():
                cap["value"] = self.canonical_quantities.get(cap["value"], cap["value"])
        self.objects[meta["name"]] = obj
        self._event(kind, obj)
        return obj

    def _event(self, kind: str, obj: JSON) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append((self.rv, {"type": kind, "object": copy.deepcopy(obj)}))
        self._wake_watchers()

    def _wake_watchers(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


def _parse_selector(selector: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in selector.split(",") if part)


def _matches(obj: JSON, sel: dict[str, str]) -> bool:
    spec = obj["spec"]
    fields = {"spec.driver": spec.get("driver", ""), "spec.nodeName": spec.get("nodeName") or ""}
    return all(fields[k] == v for k, v in sel.items())


# ------------------------------------------------------------------ helpers


def devs(n: int, prefix: str = "gpu", **kw: Any) -> tuple[Device, ...]:
    return tuple(Device(name=DeviceName(f"{prefix}-{i}"), **kw) for i in range(n))


def node_pool(devices: tuple[Device, ...], **kw: Any) -> DriverResources:
    pool = Pool(slices=(Slice(devices=devices),), node_name=NodeName(NODE), **kw)
    return DriverResources(pools={PoolName(NODE): pool})


def reconciler(api: FakeSliceAPI, owner: OwnerRef | None = OWNER) -> SliceReconciler:
    return SliceReconciler(
        api,
        DRIVER,
        owner,
        resync_seconds=60.0,
        debounce_seconds=0.01,
        backoff=Backoff(initial=0.01, cap=0.05),
    )


def generations(api: FakeSliceAPI) -> set[int]:
    return {o["spec"]["pool"]["generation"] for o in api.slices()}


def with_attr(devices: tuple[Device, ...], index: int, value: str) -> tuple[Device, ...]:
    changed = Device(name=devices[index].name, attributes={"model": value})
    return (*devices[:index], changed, *devices[index + 1 :])


async def until(check: Callable[[], bool], within: float = 3.0) -> float:
    """Seconds until ``check()`` held; fails the test after ``within`` seconds."""
    start = time.monotonic()
    for _ in itertools.count():
        if check():
            break
        assert time.monotonic() - start < within, "condition not reached in time"
        await asyncio.sleep(0.005)
    return time.monotonic() - start


# ------------------------------------------------------------------ sync_once


async def test_first_sync_publishes_owned_node_slices_then_nothing() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(3)))
    stats = await rec.sync_once()
    assert (stats.creates, stats.updates, stats.deletes) == (1, 0, 0)
    (obj,) = api.slices()
    assert obj["metadata"]["name"].startswith(f"00000-{DRIVER}-{NODE}-")
    assert len(obj["metadata"]["name"]) == len(f"00000-{DRIVER}-{NODE}-") + 5
    assert obj["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": "node-uid-1", "controller": True}
    ]
    assert obj["spec"]["nodeName"] == NODE
    assert obj["spec"]["pool"] == {"name": NODE, "generation": 1, "resourceSliceCount": 1}
    assert rec.synced
    assert api.lists == [f"spec.driver={DRIVER},spec.nodeName={NODE}"]

    assert (await rec.sync_once()).writes == 0
    assert api.writes == 1
    assert rec.stats.creates == 1


async def test_one_changed_device_is_one_update_in_place() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    devices = devs(300)
    rec.set_desired(node_pool(devices))
    await rec.sync_once()
    assert len(api.slices()) == 3
    before = {o["metadata"]["name"] for o in api.slices()}

    rec.set_desired(node_pool(with_attr(devices, 200, "b")))
    stats = await rec.sync_once()
    assert (stats.creates, stats.updates, stats.deletes) == (0, 1, 0)
    assert generations(api) == {1}  # one slice rewritten in place: no bump
    assert {o["metadata"]["name"] for o in api.slices()} == before
    second = api.slices()[1]["spec"]["devices"]
    assert next(d for d in second if d["name"] == "gpu-200")["attributes"] == {
        "model": {"string": "b"}
    }


async def test_changes_in_two_slices_bump_generation_and_rewrite_all() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    devices = devs(300)
    rec.set_desired(node_pool(devices))
    await rec.sync_once()

    rec.set_desired(node_pool(with_attr(with_attr(devices, 0, "x"), 200, "y")))
    stats = await rec.sync_once()
    assert (stats.creates, stats.updates, stats.deletes) == (0, 3, 0)
    assert generations(api) == {2}


async def test_driver_generation_wins_when_higher() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(200), generation=10))
    await rec.sync_once()
    assert generations(api) == {10}
    rec.set_desired(node_pool(devs(200), generation=3))  # lower: ignored, nothing changed
    assert (await rec.sync_once()).writes == 0


async def test_thousand_devices_make_eight_slices() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(1000)))
    stats = await rec.sync_once()
    assert stats.creates == 8
    slices = api.slices()
    assert [o["metadata"]["name"][:6] for o in slices] == [f"{i:05x}-" for i in range(8)]
    assert {o["spec"]["pool"]["resourceSliceCount"] for o in slices} == {8}
    assert sum(len(o["spec"]["devices"]) for o in slices) == 1000
    assert (await rec.sync_once()).writes == 0


async def test_shrink_deletes_obsolete_slices_with_preconditions() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(1000)))
    await rec.sync_once()
    doomed = {o["metadata"]["name"]: dict(o["metadata"]) for o in api.slices()[2:]}

    rec.set_desired(node_pool(devs(200)))
    stats = await rec.sync_once()
    assert stats.deletes == 6
    assert {name for name, _, _ in api.deletes} == set(doomed)
    for name, uid, rv in api.deletes:
        assert (uid, rv) == (doomed[name]["uid"], doomed[name]["resourceVersion"])
    # Deletes come first, then the survivors are rewritten with the new count.
    assert [v for v, _ in api.calls[-8:]] == ["delete"] * 6 + ["update"] * 2
    assert {o["spec"]["pool"]["resourceSliceCount"] for o in api.slices()} == {2}
    assert generations(api) == {2}


async def test_migrates_from_random_names_and_lower_generations() -> None:
    api = FakeSliceAPI()
    spec = {
        "driver": DRIVER,
        "nodeName": NODE,
        "pool": {"name": NODE, "generation": 4, "resourceSliceCount": 1},
        "devices": [{"name": "gpu-0"}],
    }
    api.put(f"{NODE}-{DRIVER}-x7k2p", spec)
    api.put("00000-old-gen", {**spec, "pool": {**spec["pool"], "generation": 2}})
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(1)))
    stats = await rec.sync_once()
    assert (stats.creates, stats.deletes) == (1, 2)
    (obj,) = api.slices()
    assert obj["metadata"]["name"].startswith("00000-")
    assert obj["spec"]["pool"]["generation"] == 5  # above every old slice


async def test_duplicate_index_keeps_one_slice() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(2)))
    await rec.sync_once()
    (obj,) = api.slices()
    api.put(obj["metadata"]["name"][:-5] + "zzzzz", {**obj["spec"], "devices": []})
    stats = await rec.sync_once()
    assert (stats.creates, stats.updates, stats.deletes) == (0, 0, 1)  # the odd one out goes
    assert [o["metadata"]["name"] for o in api.slices()] == [obj["metadata"]["name"]]


async def test_restart_with_identical_slices_writes_nothing() -> None:
    api = FakeSliceAPI()
    desired = node_pool(
        devs(700, taints=(Taint(key="k", value="v", effect=TaintEffect.NO_SCHEDULE),))
    )
    first = reconciler(api)
    first.set_desired(desired)
    await first.sync_once()
    writes = api.writes

    second = reconciler(api)  # a new process: no memory, only what it lists
    second.set_desired(desired)
    assert (await second.sync_once()).writes == 0
    assert api.writes == writes
    assert second.synced


async def test_conflict_rereads_and_converges() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    devices = devs(3)
    rec.set_desired(node_pool(devices))
    await rec.sync_once()

    api.conflict_next_update = True
    rec.set_desired(node_pool(with_attr(devices, 1, "z")))
    stats = await rec.sync_once()
    assert stats.updates == 1
    assert len(api.lists) == 3  # first sync, second sync, re-read after the 409
    dev = api.slices()[0]["spec"]["devices"][1]
    assert dev["attributes"] == {"model": {"string": "z"}}
    assert (await rec.sync_once()).writes == 0


async def test_api_errors_propagate_from_sync_once_and_a_retry_converges() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(3)))
    api.fail_calls = 2  # two failing calls: each pass stops at its first
    with pytest.raises(Exception, match="internal error"):
        await rec.sync_once()
    assert not rec.synced
    with pytest.raises(Exception, match="internal error"):
        await rec.sync_once()
    await rec.sync_once()
    assert len(api.slices()) == 1 and rec.synced


async def test_dropped_fields_reported_once_and_not_fought(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = FakeSliceAPI()
    api.drop_device_fields = {"taints", "bindsToNode"}
    rec = reconciler(api)
    taint = Taint(key="k", value="v", effect=TaintEffect.NO_SCHEDULE)
    devices = devs(2, taints=(taint,), binds_to_node=True)
    rec.set_desired(node_pool(devices))
    with caplog.at_level(logging.WARNING, logger="drafast.publish.reconciler"):
        await rec.sync_once()
        assert (await rec.sync_once()).writes == 0  # the stored form is adopted
        rec.set_desired(node_pool(with_attr(devices, 0, "new")))
        assert (await rec.sync_once()).updates == 1
        assert (await rec.sync_once()).writes == 0
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1
    assert rec.dropped_fields is not None
    assert rec.dropped_fields.fields == ("devices[].bindsToNode", "devices[].taints")
    assert rec.dropped_fields.gates == ("DRADeviceBindingConditions", "DRADeviceTaints")
    assert dropped[0].__dict__["gates"] == ["DRADeviceBindingConditions", "DRADeviceTaints"]


async def test_server_canonical_quantities_are_not_a_change() -> None:
    api = FakeSliceAPI()
    api.canonical_quantities = {"1024Mi": "1Gi"}
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(2, capacity={"memory": Capacity(value="1024Mi")})))
    await rec.sync_once()
    assert api.slices()[0]["spec"]["devices"][0]["capacity"] == {"memory": {"value": "1Gi"}}
    assert (await rec.sync_once()).writes == 0
    assert rec.dropped_fields is None


async def test_taint_time_added_is_kept_on_rewrite() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    taint = Taint(key="k", value="v", effect=TaintEffect.NO_SCHEDULE)
    devices = devs(2, taints=(taint,))
    rec.set_desired(node_pool(devices))
    await rec.sync_once()
    api.objects[api.slices()[0]["metadata"]["name"]]["spec"]["devices"][0]["taints"][0][
        "timeAdded"
    ] = "2020-01-01T00:00:00Z"
    rec.set_desired(node_pool(devs(2, taints=(taint,), attributes={"a": 1})))
    assert (await rec.sync_once()).updates == 1
    assert api.slices()[0]["spec"]["devices"][0]["taints"][0]["timeAdded"] == (
        "2020-01-01T00:00:00Z"
    )


async def test_removed_pool_is_deleted_and_empty_pool_keeps_one_slice() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(300)))
    await rec.sync_once()
    rec.set_desired(node_pool(()))
    stats = await rec.sync_once()
    assert (stats.deletes, stats.updates) == (2, 1)
    assert "devices" not in api.slices()[0]["spec"]
    rec.set_desired(DriverResources(pools={}))
    assert (await rec.sync_once()).deletes == 1
    assert api.slices() == []


async def test_node_selector_pools_have_no_node_and_leave_foreign_pools_alone() -> None:
    api = FakeSliceAPI()
    foreign = {
        "driver": DRIVER,
        "allNodes": True,
        "pool": {"name": "someone-else", "generation": 1, "resourceSliceCount": 1},
    }
    api.put("00000-foreign-abcde", foreign)
    selector = {"nodeSelectorTerms": [{"matchLabels": {"rack": "r1"}}]}
    fabric = Pool(slices=(Slice(devices=devs(2)),), node_selector=selector)
    rec = reconciler(api, owner=None)
    rec.set_desired(DriverResources(pools={PoolName("fabric/rack-1"): fabric}))
    assert (await rec.sync_once()).creates == 1
    (obj,) = api.slices("fabric/rack-1")
    assert "nodeName" not in obj["spec"] and "ownerReferences" not in obj["metadata"]
    assert obj["spec"]["nodeSelector"] == selector
    assert obj["metadata"]["name"].startswith(f"00000-{DRIVER}-fabric-rack-1-")
    assert api.lists == [f"spec.driver={DRIVER},spec.nodeName="]

    rec.set_desired(DriverResources(pools={}))
    assert (await rec.sync_once()).deletes == 1
    assert [o["spec"]["pool"]["name"] for o in api.slices()] == ["someone-else"]


async def test_invalid_pool_is_reported_and_left_alone() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(1)))
    await rec.sync_once()
    counters = CounterSet(name="mem", counters={"bytes": "1Gi"})
    bad = Pool(slices=(Slice(shared_counters=(counters, counters)),), node_name=NodeName(NODE))
    rec.set_desired(DriverResources(pools={PoolName(NODE): bad}))
    assert "counter set mem is defined twice" in rec.invalid_pools[NODE]
    assert (await rec.sync_once()).writes == 0
    assert len(api.slices()) == 1


def test_node_pool_of_another_node_is_invalid() -> None:
    rec = reconciler(FakeSliceAPI())
    other = Pool(slices=(), node_name=NodeName("node-2"))
    rec.set_desired(DriverResources(pools={PoolName("node-2"): other}))
    assert "not this reconciler's node" in rec.invalid_pools["node-2"]


# ------------------------------------------------------------------ run (watch-driven)


async def _running(rec: SliceReconciler) -> asyncio.Task[None]:
    task = asyncio.create_task(rec.run(), name="reconciler under test")
    await until(lambda: rec.synced)
    return task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_slice_deleted_behind_our_back_comes_back_promptly() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(300)))
    task = await _running(rec)
    lists = len(api.lists)
    victim = api.slices()[1]["metadata"]["name"]
    api.delete_behind(victim)
    elapsed = await until(lambda: len(api.slices()) == 3)
    assert elapsed < 1.0
    assert api.slices()[1]["metadata"]["name"].startswith("00001-")
    assert len(api.lists) == lists  # the watch told us; no re-list needed
    await _stop(task)


async def test_kubelet_wipe_of_all_slices_is_repaired() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(300)))
    task = await _running(rec)
    for obj in api.slices():
        api.delete_behind(obj["metadata"]["name"])
    await until(lambda: len(api.slices()) == 3)
    await asyncio.sleep(0.1)
    assert len(api.slices()) == 3
    assert generations(api) == {1}  # nothing left to mix with: the pool starts over
    await _stop(task)


async def test_lagging_watch_does_not_cause_duplicate_creates() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    api.hold_events = True  # the watch shows nothing of our own writes
    rec.set_desired(node_pool(devs(300)))
    task = await _running(rec)
    for _ in range(3):  # more syncs while the watch still lags
        rec.set_desired(node_pool(devs(300)))
        await asyncio.sleep(0.05)
    api.release_events()
    await asyncio.sleep(0.1)
    assert api.count("create") == 3 and len(api.slices()) == 3
    await _stop(task)


async def test_gone_watch_relists_and_repairs() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(1)))
    task = await _running(rec)
    lists = len(api.lists)
    api.hold_events = True
    api.delete_behind(api.slices()[0]["metadata"]["name"])
    api.compact()
    api.hold_events = False
    api.close_watches()  # the watch resumes from a compacted version: 410
    await until(lambda: len(api.slices()) == 1)
    assert len(api.lists) == lists + 1
    await _stop(task)


async def test_outage_is_survived_and_converges_afterwards() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    devices = devs(3)
    rec.set_desired(node_pool(devices))
    task = await _running(rec)

    api.set_down(True)
    rec.set_desired(node_pool(with_attr(devices, 0, "during-outage")))
    await asyncio.sleep(0.3)  # many failed attempts, backing off
    assert not task.done()
    api.set_down(False)
    await until(
        lambda: (
            api.slices()[0]["spec"]["devices"][0].get("attributes")
            == {"model": {"string": "during-outage"}}
        )
    )
    await _stop(task)


async def test_start_during_outage_publishes_once_the_server_is_back() -> None:
    api = FakeSliceAPI()
    api.fail_calls = 6
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(3)))
    task = asyncio.create_task(rec.run())
    await until(lambda: rec.synced)
    assert len(api.slices()) == 1
    await _stop(task)


async def test_shutdown_never_deletes_slices() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(300)))
    task = await _running(rec)
    await _stop(task)
    assert api.count("delete") == 0 and len(api.slices()) == 3


async def test_idle_run_makes_no_calls() -> None:
    api = FakeSliceAPI()
    rec = reconciler(api)
    rec.set_desired(node_pool(devs(10)))
    task = await _running(rec)
    calls, lists = len(api.calls), len(api.lists)
    for _ in range(3):
        rec.set_desired(node_pool(devs(10)))
        await asyncio.sleep(0.03)
    assert (len(api.calls), len(api.lists)) == (calls, lists)
    await _stop(task)


async def test_fake_enforces_preconditions_and_generates_names() -> None:
    # Guards the fake itself: the tests above are only as good as its API-server behaviour.
    api = FakeSliceAPI()
    body = {"metadata": {"generateName": "00000-x-"}, "spec": {"driver": "x"}}
    made = [await api.create_slice(copy.deepcopy(body)) for _ in range(3)]
    assert len({o["metadata"]["name"] for o in made}) == 3
    meta = made[0]["metadata"]
    with pytest.raises(ApiError) as err:
        await api.delete_slice(meta["name"], meta["uid"], "1")
    assert err.value.status == 409
    with pytest.raises(ApiError) as err:
        await api.update_slice(
            {**made[1], "metadata": {**made[1]["metadata"], "resourceVersion": "1"}}
        )
    assert err.value.status == 409
    await api.delete_slice(meta["name"], meta["uid"], meta["resourceVersion"])
    await api.delete_slice(meta["name"], meta["uid"], meta["resourceVersion"])  # gone: fine
    assert len(api.objects) == 2


async def test_publish_lag_is_measured_from_handover_to_sync() -> None:
    now = [100.0]
    api = FakeSliceAPI()
    rec = SliceReconciler(api, DRIVER, OWNER, clock=lambda: now[0])
    assert rec.last_lag is None
    rec.set_desired(node_pool(devs(3)))
    now[0] += 2.5
    await rec.sync_once()
    assert rec.last_lag == 2.5
