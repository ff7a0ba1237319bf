"""The plugin core with a scripted driver and claim source (no sockets)."""

import asyncio
from pathlib import Path

import pytest

from drafast.cdi import ClaimSpecWriter
from drafast.driver import RestoringDriver
from drafast.errors import CheckpointError, DeviceError
from drafast.plugin import PluginCore
from drafast.runtime.iojobs import IoJobs
from drafast.state import ClaimStore
from drafast.types import ClaimRef, ClaimUID, PreparedClaim

from .fakes import DRIVER, Driver, break_commits, make_core


async def test_distinct_claims_run_concurrently_and_answers_use_base_names(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = make_core(tmp_path, io_jobs)
    refs = [src.add(f"c{i}") for i in range(10)]
    res = await core.prepare(refs)
    assert drv.max_active > 1 and src.max_in_flight > 1
    for r in refs:
        assert res[r.uid].error == ""
        [d] = res[r.uid].devices
        assert d.request_names == ("r",)  # 'r/sub' -> base name
        assert d.cdi_device_ids == (f"k8s.{DRIVER}/t={r.uid}-d0",)
    assert core.store.commits < 10  # group commit


async def test_serialize_option_runs_one_call_at_a_time(tmp_path: Path, io_jobs: IoJobs) -> None:
    core, src, drv = make_core(tmp_path, io_jobs, serialize=True)
    refs = [src.add(f"c{i}") for i in range(6)]
    await asyncio.gather(*(core.prepare([r]) for r in refs))
    assert drv.max_active == 1
    assert src.max_in_flight > 1  # the claim reads happen before the serial lock


async def test_checkpoint_hit_skips_fetch_and_driver(tmp_path: Path, io_jobs: IoJobs) -> None:
    core, src, drv = make_core(tmp_path, io_jobs)
    ref = src.add("c")
    first = await core.prepare([ref])
    gets = src.gets
    assert await core.prepare([ref]) == first
    assert src.gets == gets and drv.prepared == ["c"]


async def test_failures_are_per_claim_values(tmp_path: Path, io_jobs: IoJobs) -> None:
    core, src, drv = make_core(tmp_path, io_jobs)
    ok, bad, boom = src.add("ok"), src.add("bad"), src.add("boom")
    drv.fail.add("bad")
    res = await core.prepare([ok, bad, boom])
    assert res[ok.uid].error == ""
    assert res[bad.uid].error == f"claim ns/bad ({bad.uid}): device is on fire"
    assert res[boom.uid].error == f"claim ns/boom ({boom.uid}): internal error: RuntimeError: bug"
    assert bad.uid not in core.store and ok.uid in core.store


async def test_too_many_claims(tmp_path: Path, io_jobs: IoJobs) -> None:
    core, _, _ = make_core(tmp_path, io_jobs)
    refs = [ClaimRef(namespace="ns", name=f"c{i}", uid=ClaimUID(f"u{i}")) for i in range(101)]
    res = await core.prepare(refs)
    assert len(res) == 101 and all("more than the limit of 100" in r.error for r in res.values())


async def test_cancelled_call_still_checkpoints(tmp_path: Path, io_jobs: IoJobs) -> None:
    core, src, drv = make_core(tmp_path, io_jobs)
    drv.delay = 0.1
    ref = src.add("c")
    call = asyncio.create_task(core.prepare([ref]))
    await asyncio.sleep(0.05)
    call.cancel()  # the kubelet gave up (deadline)
    with pytest.raises(asyncio.CancelledError):
        await call
    await core.drain()
    assert ref.uid in core.store  # the retry will be answered from the checkpoint
    again = await core.prepare([ref])
    assert again[ref.uid].error == "" and drv.prepared == ["c"]


async def test_unprepare_removes_spec_and_record(tmp_path: Path, io_jobs: IoJobs) -> None:
    core, src, drv = make_core(tmp_path, io_jobs)
    ref = src.add("c")
    await core.prepare([ref])
    assert core.cdi.path(ref.uid).exists()
    res = await core.unprepare([ref, ref])
    assert list(res) == [ref.uid] and res[ref.uid].error == ""
    assert not core.cdi.path(ref.uid).exists()
    assert ref.uid not in core.store and drv.unprepared == ["c"]
    assert (await core.unprepare([ref]))[ref.uid].error == ""
    assert drv.unprepared == ["c"]


async def test_a_failed_cdi_write_is_a_claim_error_and_the_retry_repairs_it(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = make_core(tmp_path, io_jobs)
    blocker = tmp_path / "blocker"
    blocker.write_text("")  # the CDI dir cannot be created below a regular file
    core.cdi = ClaimSpecWriter(blocker / "cdi", DRIVER, "t")
    ref = src.add("c")
    res = await core.prepare([ref])
    assert "cannot create" in res[ref.uid].error and str(blocker / "cdi") in res[ref.uid].error
    assert ref.uid in core.store  # the record went in alongside: the retry is a checkpoint hit
    blocker.unlink()
    again = await core.prepare([ref])
    assert again[ref.uid].error == "" and drv.prepared == ["c"]
    assert core.cdi.path(ref.uid).exists()


async def test_a_failed_commit_is_rolled_back_by_the_core_and_the_retry_succeeds(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = make_core(tmp_path, io_jobs)
    state = break_commits(core, tmp_path, io_jobs)
    ref = src.add("c")
    res = await core.prepare([ref])
    assert "checkpoint.json" in res[ref.uid].error, res[ref.uid].error
    assert ref.uid not in core.store
    # the core undid the driver's work and removed the spec before it answered
    assert drv.prepared == ["c"] and drv.unprepared == ["c"]
    assert not core.cdi.path(ref.uid).exists()
    state.mkdir()
    assert (await core.prepare([ref]))[ref.uid].error == ""  # the kubelet's retry
    assert drv.prepared == ["c", "c"] and core.cdi.path(ref.uid).exists()
    assert ref.uid in core.store
    assert (await core.unprepare([ref]))[ref.uid].error == ""
    assert drv.unprepared == ["c", "c"] and not core.cdi.path(ref.uid).exists()


async def test_a_failing_rollback_is_noted_on_the_claim_error(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = make_core(tmp_path, io_jobs)
    break_commits(core, tmp_path, io_jobs)
    ref = src.add("c")

    async def broken_unprepare(ref: ClaimRef, prepared: PreparedClaim) -> None:
        raise DeviceError(f"{ref}: cannot release")

    drv.unprepare = broken_unprepare  # type: ignore[method-assign]
    res = await core.prepare([ref])
    assert "checkpoint.json" in res[ref.uid].error
    assert "rollback failed: driver unprepare: claim ns/c" in res[ref.uid].error
    assert not core.cdi.path(ref.uid).exists()  # the spec goes even so


@pytest.mark.parametrize(
    ("namespace", "name", "uid", "problem"),
    [
        ("../../outside", "x", "u-1", "claim namespace '../../outside' is not a DNS label"),
        ("default", "../../outside/x", "u-1", "claim name '../../outside/x' is not a DNS"),
        ("ns", "c", "a/b", "claim uid 'a/b' is not a UID"),
        ("ns", "c", "a\0b", "is not a UID"),
        ("ns", "c", "..", "is not a UID"),
    ],
)
async def test_malformed_refs_fail_before_any_work(  # noqa: PLR0917 (fixtures + parameters)
    tmp_path: Path, io_jobs: IoJobs, namespace: str, name: str, uid: str, problem: str
) -> None:
    core, src, drv = make_core(tmp_path, io_jobs)
    victim = src.add("victim")  # prepared: a malformed call must not touch it
    await core.prepare([victim])
    ref = ClaimRef(namespace=namespace, name=name, uid=ClaimUID(uid))
    res = await core.prepare([ref])
    assert problem in res[uid].error
    assert (await core.unprepare([ref]))[uid].error != ""
    assert src.gets == 1 and drv.prepared == ["victim"] and drv.unprepared == []
    assert core.cdi.path(victim.uid).exists() and victim.uid in core.store


# ---------------------------------------------------------------------- unprepare: the two orders


def _trace(core: PluginCore, drv: Driver, events: list[str]) -> asyncio.Event:
    """Record when the driver's unprepare and the record's removal start and end; the event is
    set once a removal is durable."""
    unprepare, delete = drv.unprepare, core.store.delete
    removed = asyncio.Event()

    async def traced_unprepare(ref: ClaimRef, prepared: PreparedClaim) -> None:
        events.append("unprepare")
        await asyncio.sleep(0.01)  # a driver that waits for something: a removal may start
        await unprepare(ref, prepared)
        events.append("unprepared")

    async def traced_delete(uid: str) -> None:
        events.append("delete")
        await delete(uid)
        events.append("deleted")
        removed.set()

    drv.unprepare = traced_unprepare  # type: ignore[method-assign]
    core.store.delete = traced_delete  # type: ignore[method-assign]
    return removed


async def test_a_driver_that_does_not_restore_is_unprepared_before_its_record_goes(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = make_core(tmp_path, io_jobs)
    assert not isinstance(drv, RestoringDriver)
    ref = src.add("c")
    await core.prepare([ref])
    events: list[str] = []
    _trace(core, drv, events)
    assert (await core.unprepare([ref]))[ref.uid].error == ""
    assert events == ["unprepare", "unprepared", "delete", "deleted"]
    assert ref.uid not in core.store and not core.cdi.path(ref.uid).exists()


async def test_a_restoring_driver_is_unprepared_while_its_record_goes(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = make_core(tmp_path, io_jobs, restoring=True)
    assert isinstance(drv, RestoringDriver)
    ref = src.add("c")
    await core.prepare([ref])
    events: list[str] = []
    removed = _trace(core, drv, events)
    unprepare = drv.unprepare

    async def waiting_unprepare(ref: ClaimRef, prepared: PreparedClaim) -> None:
        async with asyncio.timeout(10):  # a deadlock (a TimeoutError) unless the two overlap
            await removed.wait()
        await unprepare(ref, prepared)

    drv.unprepare = waiting_unprepare  # type: ignore[method-assign]
    assert (await core.unprepare([ref]))[ref.uid].error == ""
    assert events.index("deleted") < events.index("unprepared")
    assert ref.uid not in core.store and not core.cdi.path(ref.uid).exists()
    assert drv.unprepared == ["c"]
    assert ClaimStore(tmp_path, io=io_jobs).get(ref.uid) is None  # durable


def _failing_unprepare(drv: Driver, core: PluginCore, *, after_removal: bool) -> None:
    removed = _trace(core, drv, [])

    async def broken(ref: ClaimRef, prepared: PreparedClaim) -> None:
        if after_removal:  # the worst moment: the record's absence is already durable
            async with asyncio.timeout(10):
                await removed.wait()
            assert ref.uid not in core.store
        raise DeviceError(f"{ref}: cannot release")

    drv.unprepare = broken  # type: ignore[method-assign]


@pytest.mark.parametrize("restoring", [False, True])
async def test_a_failed_driver_unprepare_keeps_the_record_for_the_retry(
    tmp_path: Path, io_jobs: IoJobs, restoring: bool
) -> None:
    core, src, drv = make_core(tmp_path, io_jobs, restoring=restoring)
    ref = src.add("c")
    await core.prepare([ref])
    record = core.store.get(ref.uid)
    _failing_unprepare(drv, core, after_removal=restoring)
    res = await core.unprepare([ref])
    assert res[ref.uid].error == f"claim ns/c ({ref.uid}): cannot release"
    # The record is there (put back for the restoring driver), durably: a restart sees it too.
    assert core.store.get(ref.uid) == record
    assert ClaimStore(tmp_path, io=io_jobs).get(ref.uid) == record
    del drv.unprepare  # the device is released now
    assert (await core.unprepare([ref]))[ref.uid].error == ""  # the kubelet's retry
    assert drv.unprepared == ["c"] and ref.uid not in core.store
    assert ClaimStore(tmp_path, io=io_jobs).get(ref.uid) is None


async def test_a_record_that_cannot_be_put_back_is_noted_on_the_claim_error(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = make_core(tmp_path, io_jobs, restoring=True)
    ref = src.add("c")
    await core.prepare([ref])
    _failing_unprepare(drv, core, after_removal=True)

    async def failing_put(record: object) -> None:
        raise CheckpointError(f"{core.store.path}: disk full")

    core.store.put = failing_put  # type: ignore[method-assign]
    res = await core.unprepare([ref])
    assert res[ref.uid].error.startswith(f"claim ns/c ({ref.uid}): cannot release")
    assert "its checkpoint record could not be kept" in res[ref.uid].error
    assert "disk full" in res[ref.uid].error
    assert ref.uid not in core.store  # a restart's restore releases what the driver held


@pytest.mark.parametrize("restoring", [False, True])
async def test_a_failed_record_removal_fails_the_claim_and_the_retry_does_both_again(
    tmp_path: Path, io_jobs: IoJobs, restoring: bool
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    core, src, drv = make_core(tmp_path, io_jobs, restoring=restoring)
    core.store = ClaimStore(state, io=io_jobs)
    ref = src.add("c")
    await core.prepare([ref])
    core.store = ClaimStore(state, io=io_jobs)  # reopened: it opens its journal at a commit,
    state.rename(tmp_path / "away")  # which now cannot
    res = await core.unprepare([ref])
    assert "checkpoint.json" in res[ref.uid].error, res[ref.uid].error
    assert drv.unprepared == ["c"] and ref.uid in core.store
    (tmp_path / "away").rename(state)
    assert (await core.unprepare([ref]))[ref.uid].error == ""  # the kubelet's retry
    assert drv.unprepared == ["c", "c"] and ref.uid not in core.store  # unprepare is idempotent
    assert ClaimStore(state, io=io_jobs).get(ref.uid) is None


async def test_both_halves_failing_report_the_driver_and_keep_the_record(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    core, src, drv = make_core(tmp_path, io_jobs, restoring=True)
    core.store = ClaimStore(state, io=io_jobs)
    ref = src.add("c")
    await core.prepare([ref])
    core.store = ClaimStore(state, io=io_jobs)  # reopened: it opens its journal at a commit,
    state.rename(tmp_path / "away")  # which now cannot
    _failing_unprepare(drv, core, after_removal=False)
    res = await core.unprepare([ref])
    assert res[ref.uid].error == f"claim ns/c ({ref.uid}): cannot release"
    assert ref.uid in core.store
