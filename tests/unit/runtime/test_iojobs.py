"""IoJobs: native background jobs awaited from asyncio (real Rust threads, real files)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drafast import _native
from drafast.errors import CheckpointError, DeviceError
from drafast.runtime.iojobs import IoJobs


async def test_commits_and_rewrites_return_their_outcomes(tmp_path: Path) -> None:
    jobs = IoJobs("test", threads=2)
    ckpt = _native.Checkpoint(str(tmp_path / "ckpt.json"))
    f = tmp_path / "f"
    f.write_text("user line\n")
    gens = await asyncio.gather(*(jobs.commit(ckpt, [(f"k{i}", b"{}")], []) for i in range(20)))
    assert sorted(gens) == list(range(1, 21))  # every commit ran, each its own generation
    assert len(_native.Checkpoint(str(tmp_path / "ckpt.json"))) == 20  # durable on disk
    assert await jobs.rewrite_lines(str(f), [("u1", ["ns/p claim=u1"])], durable=True)
    assert not await jobs.rewrite_lines(str(f), [("u1", ["ns/p claim=u1"])], durable=True)
    assert f.read_text() == "user line\nns/p claim=u1\n"
    assert not jobs._waiting  # every outcome was collected
    jobs.close()


def test_a_written_file_gets_a_spare_that_its_next_rewrite_writes_into(tmp_path: Path) -> None:
    """The spare is made after the outcome is queued; close() waits for it."""
    f = tmp_path / "dev0"
    f.write_text("")
    f.chmod(0o640)
    spare = tmp_path / ".dev0.drafast-tmp.spare"

    def rewrite(changes: list[tuple[str, list[str]]], path: Path = f) -> object:
        jobs = IoJobs("test")
        try:
            return asyncio.run(jobs.rewrite_lines(str(path), changes, False))
        finally:
            jobs.close()

    assert rewrite([("u1", [])]) is False  # nothing written: no spare either
    assert rewrite([("u1", [])], tmp_path / "gone") is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev0"]
    assert rewrite([("u1", ["ns/a claim=u1"])]) is True
    assert spare.read_bytes() == b""
    assert spare.stat().st_mode & 0o7777 == 0o640
    spare_inode = spare.stat().st_ino
    assert rewrite([("u2", ["ns/b claim=u2"])]) is True
    assert f.stat().st_ino == spare_inode  # the new content went into the spare
    assert f.read_text() == "ns/a claim=u1\nns/b claim=u2\n"
    assert f.stat().st_mode & 0o7777 == 0o640
    assert spare.stat().st_ino != spare_inode  # and a new spare waits for the next one
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dev0.drafast-tmp.spare", "dev0"]


async def test_errors_arrive_as_drafast_errors_and_the_worker_keeps_going(tmp_path: Path) -> None:
    jobs = IoJobs("test")
    ckpt = _native.Checkpoint(str(tmp_path / "ckpt.json"))
    with pytest.raises(DeviceError, match=r"file .*missing: does not exist"):
        await jobs.rewrite_lines(str(tmp_path / "missing"), [("u", ["x claim=u"])], False)
    with pytest.raises(CheckpointError, match=r"ckpt.json.*value of key"):
        await jobs.commit(ckpt, [("k", b"not json")], [])
    assert await jobs.commit(ckpt, [("k", b"1")], []) == 1
    jobs.close()


async def test_malformed_arguments_fail_at_submit(tmp_path: Path) -> None:
    jobs = IoJobs("test")
    with pytest.raises(ValueError, match=r"changes\[0\]"):
        await jobs.rewrite_lines(str(tmp_path / "f"), [("u",)], False)  # type: ignore[list-item]
    assert not jobs._waiting
    assert await jobs.rewrite_lines(str(tmp_path / "gone"), [], False) is False  # still serving
    jobs.close()


async def test_a_cancelled_caller_does_not_lose_the_job_or_others(tmp_path: Path) -> None:
    jobs = IoJobs("test")
    ckpt = _native.Checkpoint(str(tmp_path / "ckpt.json"))
    first = asyncio.create_task(jobs.commit(ckpt, [("a", b"1")], []))
    second = asyncio.create_task(jobs.commit(ckpt, [("b", b"2")], []))
    await asyncio.sleep(0)  # both submitted
    first.cancel()
    assert await second == 2
    with pytest.raises(asyncio.CancelledError):
        await first
    assert ckpt.keys() == ["a", "b"]  # the cancelled caller's commit still happened
    jobs.close()


async def test_a_closed_worker_refuses_jobs(tmp_path: Path) -> None:
    jobs = IoJobs("test")
    jobs.close()
    with pytest.raises(RuntimeError, match="io worker test: closed"):
        await jobs.rewrite_lines(str(tmp_path / "f"), [], False)


def test_close_finishes_every_queued_job_first(tmp_path: Path) -> None:
    worker = _native.IoWorker("test", 3)
    files = [tmp_path / f"f{i}" for i in range(40)]
    for f in files:
        f.write_text("")
    ids = {worker.submit_rewrite(str(f), [("u", ["line claim=u"])], False) for f in files}
    worker.close()  # returns once the threads are done
    assert {job for job, _ in worker.finished()} == ids
    assert all(f.read_text() == "line claim=u\n" for f in files)


def test_thread_count_is_checked() -> None:
    with pytest.raises(ValueError, match=r"threads must be 1\.\.16"):
        _native.IoWorker("x", 0)


def test_one_instance_serves_event_loops_one_after_another(tmp_path: Path) -> None:
    jobs = IoJobs("test")
    ckpt = _native.Checkpoint(str(tmp_path / "ckpt.json"))
    for i in range(3):
        assert asyncio.run(jobs.commit(ckpt, [(f"k{i}", b"1")], [])) == i + 1
    jobs.close()


def test_loops_in_two_threads_share_one_worker(tmp_path: Path) -> None:
    """Each outcome reaches the loop that submitted the job, whichever loop collects it."""
    import threading

    jobs = IoJobs("test", threads=2)
    results: dict[int, list[bool]] = {}

    def serve(n: int) -> None:
        files = [tmp_path / f"t{n}-{i}" for i in range(50)]
        for f in files:
            f.write_text("")

        async def go() -> list[bool]:
            return list(
                await asyncio.gather(
                    *(jobs.rewrite_lines(str(f), [("u", [f"x{n} claim=u"])], False) for f in files)
                )
            )

        results[n] = asyncio.run(go())

    threads = [threading.Thread(target=serve, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {0: [True] * 50, 1: [True] * 50}
    jobs.close()
