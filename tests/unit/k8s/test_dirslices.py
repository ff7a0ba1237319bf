"""DirSlices: the dir store behind the SliceAPI, driven by the real SliceReconciler."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from drafast.k8s.dirslices import DirSlices
from drafast.k8s.dirstore import DirStore
from drafast.k8s.errors import AlreadyExistsError, ConflictError, GoneError, NotFoundError
from drafast.publish import OwnerRef, SliceReconciler
from drafast.resourceapi.names import slice_index
from drafast.runtime.backoff import Backoff
from drafast.types import (
    Capacity,
    Device,
    DeviceName,
    DriverResources,
    NodeName,
    Pool,
    PoolName,
    Slice,
)

DRIVER = "gpu.example.com"
NODE = "node-1"
OWNER = OwnerRef(name=NodeName(NODE), uid="node-uid")


def resources(n: int, memory: str = "1Gi") -> DriverResources:
    devices = tuple(
        Device(name=DeviceName(f"gpu-{i}"), capacity={"memory": Capacity(value=memory)})
        for i in range(n)
    )
    pool = Pool(slices=(Slice(devices=devices),), node_name=NodeName(NODE))
    return DriverResources(pools={PoolName(NODE): pool})


def reconciler(store: DirStore, **kw: float) -> tuple[SliceReconciler, DirSlices]:
    api = DirSlices(store, **kw)
    rec = SliceReconciler(
        api, DRIVER, OWNER, debounce_seconds=0.01, backoff=Backoff(initial=0.01, cap=0.05)
    )
    return rec, api


def files(store: DirStore) -> dict[str, tuple[int, dict]]:  # type: ignore[type-arg]
    return {p.name: (p.stat().st_mtime_ns, obj) for p, obj in store.list("resourceslices")}


async def test_reconciler_over_dirslices_writes_files_then_nothing(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    rec, api = reconciler(store)
    rec.set_desired(resources(300))
    stats = await rec.sync_once()
    assert (stats.creates, stats.updates, stats.deletes) == (3, 0, 0)
    before = files(store)
    assert sorted(slice_index(name) for name in before) == [0, 1, 2]
    for name, (_, obj) in before.items():
        assert name == f"{obj['metadata']['name']}.json"
        assert obj["metadata"]["name"].startswith(f"0000{slice_index(name)}-{DRIVER}-{NODE}-")
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "node-uid"
        assert obj["metadata"]["generation"] == 1 and obj["metadata"]["uid"]
        assert obj["spec"]["pool"] == {"name": NODE, "generation": 1, "resourceSliceCount": 3}
    assert [len(o["spec"]["devices"]) for _, (_, o) in sorted(before.items())] == [128, 128, 44]

    # Unchanged: zero writes, files untouched -- also for a new process (a fresh DirSlices).
    assert (await rec.sync_once()).writes == 0
    again, api2 = reconciler(store)
    again.set_desired(resources(300, memory="1024Mi"))  # same value, other spelling
    assert (await again.sync_once()).writes == 0
    assert files(store) == before and api.writes == 3 and api2.writes == 0


async def test_changes_update_in_place_and_removed_pools_go(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    rec, _ = reconciler(store)
    rec.set_desired(resources(2))
    await rec.sync_once()
    rec.set_desired(resources(2, memory="2Gi"))
    stats = await rec.sync_once()
    assert (stats.creates, stats.updates, stats.deletes) == (0, 1, 0)
    ((_, (_, obj)),) = files(store).items()
    assert obj["metadata"]["generation"] == 2  # spec changed
    assert obj["spec"]["devices"][0]["capacity"]["memory"] == {"value": "2Gi"}
    rec.set_desired(DriverResources(pools={}))
    assert (await rec.sync_once()).deletes == 1
    assert files(store) == {}


async def test_errors_are_the_api_servers(tmp_path: Path) -> None:
    api = DirSlices(DirStore(tmp_path))
    made = await api.create_slice({"metadata": {"generateName": "00000-d-n-"}, "spec": {}})
    meta = made["metadata"]
    assert meta["name"].startswith("00000-d-n-") and len(meta["name"]) == len("00000-d-n-") + 5
    with pytest.raises(AlreadyExistsError):
        await api.create_slice({"metadata": {"name": meta["name"]}, "spec": {}})
    stale = {**made, "metadata": {**meta, "resourceVersion": "0"}, "spec": {"x": 1}}
    with pytest.raises(ConflictError, match="resourceslices"):
        await api.update_slice(stale)
    with pytest.raises(ConflictError):
        await api.delete_slice(meta["name"], "other-uid", meta["resourceVersion"])
    with pytest.raises(NotFoundError):
        await api.update_slice({"metadata": {"name": "missing"}, "spec": {}})
    same = await api.update_slice(made)
    assert same == made  # a no-op update writes nothing, not even a resourceVersion
    await api.delete_slice(meta["name"], meta["uid"], meta["resourceVersion"])
    await api.delete_slice(meta["name"], meta["uid"], meta["resourceVersion"])  # gone: fine
    assert api.writes == 2


async def test_watch_sees_own_writes_and_others_changes(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    api = DirSlices(store, poll_seconds=0.01)
    items, rv = await api.list_slices("")
    assert items == []
    events: list[tuple[str, str]] = []

    async def watch() -> None:
        async for event in api.watch_slices("spec.driver=d", rv):
            events.append((event["type"], event["object"]["metadata"]["name"]))

    task = asyncio.create_task(watch())
    made = await api.create_slice({"metadata": {"name": "a"}, "spec": {"driver": "d"}})
    await api.create_slice({"metadata": {"name": "b"}, "spec": {"driver": "other"}})
    store.put("resourceslices", {"metadata": {"name": "c"}, "spec": {"driver": "d"}})
    (tmp_path / "resourceslices" / "a.json").unlink()
    await _until(lambda: len(events) >= 3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert events == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "c")]  # scans: gone first
    with pytest.raises(NotFoundError):  # the file is gone
        await api.update_slice(made)


async def test_watch_from_a_forgotten_version_is_gone(tmp_path: Path) -> None:
    api = DirSlices(DirStore(tmp_path), journal=3)
    for i in range(5):
        await api.create_slice({"metadata": {"name": f"s{i}"}, "spec": {}})
    with pytest.raises(GoneError):
        await anext(aiter(api.watch_slices("", "1")))


async def test_run_repairs_a_deleted_file(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    rec, _ = reconciler(store, poll_seconds=0.01)
    rec.set_desired(resources(1))
    task = asyncio.create_task(rec.run())
    await _until(lambda: rec.synced)
    ((name, _),) = files(store).items()
    (tmp_path / "resourceslices" / name).unlink()
    await _until(lambda: len(files(store)) == 1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert slice_index(next(iter(files(store)))) == 0


async def _until(check, within: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, "condition not reached in time"
        await asyncio.sleep(0.005)
