"""A staged driver (plan, then apply while the record commits) through the plugin core."""

import asyncio
from pathlib import Path

from drafast.driver import StagedDriver
from drafast.errors import CheckpointError, DeviceError
from drafast.runtime.iojobs import IoJobs
from drafast.state import ClaimStore
from drafast.types import Claim, ClaimRef, PreparedClaim

from .fakes import Driver, Restoring, break_commits, make_core


class Staged(Restoring):
    """``plan`` is the scripted prepare (it counts in ``prepared``); ``apply`` is the host
    change, which may wait for ``gate`` and fails for the claims in ``apply_fail``."""

    def __init__(self) -> None:
        super().__init__()
        self.applied: list[str] = []
        self.apply_fail: set[str] = set()
        self.gate: asyncio.Event | None = None
        self.events: list[str] = []

    async def plan(self, claim: Claim) -> PreparedClaim:
        return await Driver.prepare(self, claim)

    async def apply(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        if self.gate is not None:
            async with asyncio.timeout(10):  # a deadlock (a TimeoutError) unless they overlap
                await self.gate.wait()
        await asyncio.sleep(0.01)
        if ref.name in self.apply_fail:
            raise DeviceError(f"{ref}: cannot write its file")
        self.applied.append(ref.name)
        self.events.append("applied")

    async def prepare(self, claim: Claim) -> PreparedClaim:
        raise AssertionError("the core prepares a restoring staged driver in two stages")

    async def unprepare(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        self.events.append("unprepare")
        await super().unprepare(ref, prepared)


class StagedNotRestoring(Driver):
    """Has both stages but no restore: only restore repairs a half done, so the core must call
    ``prepare``."""

    async def plan(self, claim: Claim) -> PreparedClaim:
        raise AssertionError("plan without restore")

    async def apply(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        raise AssertionError("apply without restore")


def staged_core(tmp_path: Path, io: IoJobs) -> tuple:  # type: ignore[type-arg]
    drv = Staged()
    assert isinstance(drv, StagedDriver)
    return make_core(tmp_path, io, driver=drv)


async def test_apply_runs_while_the_record_commits(tmp_path: Path, io_jobs: IoJobs) -> None:
    core, src, drv = staged_core(tmp_path, io_jobs)
    drv.gate = asyncio.Event()
    put = core.store.put

    async def traced_put(record: object) -> None:
        await put(record)  # type: ignore[arg-type]
        drv.gate.set()  # apply may finish only once the record is durable

    core.store.put = traced_put  # type: ignore[method-assign]
    ref = src.add("c")
    res = await core.prepare([ref])
    assert res[ref.uid].error == "" and len(res[ref.uid].devices) == 1
    assert drv.prepared == ["c"] and drv.applied == ["c"]
    assert core.cdi.path(ref.uid).exists()
    assert ClaimStore(tmp_path, io=io_jobs).get(ref.uid) is not None  # durable


async def test_a_checkpoint_hit_applies_again_without_planning(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = staged_core(tmp_path, io_jobs)
    ref = src.add("c")
    first = await core.prepare([ref])
    assert await core.prepare([ref]) == first
    assert drv.prepared == ["c"] and drv.applied == ["c", "c"]


async def test_a_failed_apply_takes_the_durable_record_back_out(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = staged_core(tmp_path, io_jobs)
    ref = src.add("c")
    drv.apply_fail.add("c")
    res = await core.prepare([ref])
    assert res[ref.uid].error == f"claim ns/c ({ref.uid}): cannot write its file"
    assert drv.unprepared == ["c"]  # whatever apply left is undone
    assert ref.uid not in core.store and ClaimStore(tmp_path, io=io_jobs).get(ref.uid) is None
    assert not core.cdi.path(ref.uid).exists()
    drv.apply_fail.clear()
    assert (await core.prepare([ref]))[ref.uid].error == ""  # the kubelet's retry
    assert drv.prepared == ["c", "c"] and drv.applied == ["c"]
    assert ref.uid in core.store and core.cdi.path(ref.uid).exists()


async def test_a_record_that_cannot_be_taken_out_is_kept_and_the_retry_applies_it(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = staged_core(tmp_path, io_jobs)
    ref = src.add("c")
    drv.apply_fail.add("c")

    async def failing_delete(uid: str) -> None:
        raise CheckpointError(f"{core.store.path}: disk full")

    delete = core.store.delete
    core.store.delete = failing_delete  # type: ignore[method-assign]
    res = await core.prepare([ref])
    assert res[ref.uid].error.startswith(f"claim ns/c ({ref.uid}): cannot write its file")
    assert "rollback failed, the checkpoint record is kept" in res[ref.uid].error
    assert "disk full" in res[ref.uid].error
    assert ref.uid in core.store and core.cdi.path(ref.uid).exists()  # consistent with it
    core.store.delete = delete  # type: ignore[method-assign]
    drv.apply_fail.clear()
    assert (await core.prepare([ref]))[ref.uid].error == ""  # a hit: applied this time
    assert drv.prepared == ["c"] and drv.applied == ["c"]


async def test_a_failed_commit_rolls_back_after_apply_finished(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = staged_core(tmp_path, io_jobs)
    state = break_commits(core, tmp_path, io_jobs)
    ref = src.add("c")
    res = await core.prepare([ref])
    assert "checkpoint.json" in res[ref.uid].error, res[ref.uid].error
    # unprepare waited for apply: the other order would leave apply's work behind
    assert drv.events == ["applied", "unprepare"]
    assert ref.uid not in core.store and not core.cdi.path(ref.uid).exists()
    state.mkdir()
    assert (await core.prepare([ref]))[ref.uid].error == ""  # the kubelet's retry
    assert ref.uid in core.store and drv.applied == ["c", "c"]


async def test_a_staged_driver_that_does_not_restore_is_prepared_in_one_piece(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    core, src, drv = make_core(tmp_path, io_jobs, driver=StagedNotRestoring())
    ref = src.add("c")
    assert (await core.prepare([ref]))[ref.uid].error == ""
    assert (await core.prepare([ref]))[ref.uid].error == ""  # a hit: no apply either
    assert drv.prepared == ["c"]
