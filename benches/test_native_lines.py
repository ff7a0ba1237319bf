"""File-driver claim lines: drafast._native.rewrite_claim_lines vs the pure-Python reference
(tests/native/reference_lines.py), and the native I/O worker vs a Python thread hop.

Every benchmark also checks its result. Run:
    .venv/bin/python -m pytest benches/test_native_lines.py -q
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from drafast import _native
from drafast.runtime.iojobs import PROCESS_THREADS, IoJobs
from drafast.testing.bench import BackgroundLoop, tmpfs_dir

from .conftest import reference

ref = reference("reference_lines")
IMPLS = ["native", "reference"]
ROUNDS = 300
CLAIMS = 64  # claim lines already in the shared file
PAUSE_S = 0.001  # between two prepares' disk work: a kubelet's calls are not back to back
DISK_ROUNDS = 1500  # seconds of rewrites: recently deleted inodes pile up as on a busy node


def shared_file(directory: Path) -> Path:
    f = directory / "shared"
    f.write_text("# user line\n" + "".join(f"ns/pod-{i} claim=u{i}\n" for i in range(CLAIMS)))
    return f


@pytest.mark.parametrize("impl", IMPLS)
def test_rewrite_one_claim_of_64(benchmark: Any, impl: str) -> None:
    """Replace one claim's line in a file shared by 64 claims (tmpfs: the code, not the disk)."""
    benchmark.group = f"claim lines: rewrite 1 claim in a file of {CLAIMS}"
    f = shared_file(tmpfs_dir("drafast-bench-lines-"))
    n = iter(range(10**9))

    def rewrite() -> bool:
        changes = [("u7", [f"ns/pod-7-gen-{next(n)} claim=u7"])]
        if impl == "native":
            return _native.rewrite_claim_lines(str(f), changes, False)
        return bool(ref.rewrite(f, changes, False))

    assert benchmark.pedantic(rewrite, rounds=ROUNDS, warmup_rounds=1)
    lines = f.read_text().splitlines()
    assert len(lines) == 1 + CLAIMS and lines[0] == "# user line"
    assert lines[-1].startswith("ns/pod-7-gen-") and lines[-1].endswith(" claim=u7")


@pytest.mark.parametrize("hop", ["io-worker", "to-thread"])
def test_64_background_rewrites_from_the_event_loop(benchmark: Any, hop: str) -> None:
    """64 rewrites (64 files) awaited at once from a uvloop: the native worker (Rust threads,
    one socket wake-up for many outcomes) vs asyncio.to_thread (a GIL round trip per job)."""
    benchmark.group = "64 background file rewrites awaited from the event loop"
    d = tmpfs_dir("drafast-bench-hops-")
    files = [str(d / f"f{i}") for i in range(64)]
    for f in files:
        Path(f).write_text("")
    jobs = IoJobs("bench", threads=3)
    lp = BackgroundLoop()
    gen = iter(range(10**9))

    async def round_() -> list[bool]:
        g = next(gen)
        if hop == "io-worker":
            aws = [jobs.rewrite_lines(f, [("u", [f"x-{g} claim=u"])], False) for f in files]
        else:
            aws = [
                asyncio.to_thread(
                    _native.rewrite_claim_lines, f, [("u", [f"x-{g} claim=u"])], False
                )
                for f in files
            ]
        return list(await asyncio.gather(*aws))

    try:
        out = benchmark.pedantic(
            lambda: lp.run_until_complete(round_()), rounds=100, warmup_rounds=2
        )
    finally:
        lp.close()
        jobs.close()
    assert out == [True] * 64
    assert all(Path(f).read_text().endswith(" claim=u\n") for f in files)


@pytest.mark.parametrize("spare", ["spare", "no-spare"])
def test_prepare_disk_work_on_a_disk_filesystem(benchmark: Any, spare: str, tmp_path: Path) -> None:
    """A file-driver prepare's disk work, awaited from the event loop as the core awaits it: the
    CDI spec written on the loop (and the last one removed), the claim's checkpoint commit
    (append + fdatasync) and the device file's rewrite at once, in directories on disk (the
    pytest tmp dir; its filesystem type is in the group name). With the spare the worker made
    after the previous rewrite, or without one (the rewrite allocates its temp inode itself).
    Here the difference is small; in a long-running plugin on ext4 without a journal, where the
    inode allocator skips every inode deleted in the last minutes, it is large (README)."""
    fs = subprocess.run(
        ["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True, text=True, check=False
    ).stdout.strip()
    benchmark.group = f"prepare disk work (commit + file rewrite) on {fs}: spare made ahead vs not"
    for d in ("plugin", "files", "cdi"):
        (tmp_path / d).mkdir()
    ckpt = _native.Checkpoint(str(tmp_path / "plugin" / "checkpoint.json"))
    f = tmp_path / "files" / "dev0"
    f.write_text("")
    jobs = IoJobs("bench", PROCESS_THREADS)
    lp = BackgroundLoop()
    gen = iter(range(10**9))

    async def prepare_work() -> list[object]:
        n = next(gen)
        spec = tmp_path / "cdi" / f"claim-{n}.json"
        spec.write_bytes(b"{}")  # the CDI spec, written on the loop as the core does
        (tmp_path / "cdi" / f"claim-{n - 1}.json").unlink(missing_ok=True)  # the last unprepare
        return list(
            await asyncio.gather(
                jobs.commit(ckpt, [(f"claim-{n % 8}", b'{"n": %d}' % n)], []),
                jobs.rewrite_lines(
                    str(f), [("u", [f"ns/pod-{n} claim=u"])], False, spare=spare == "spare"
                ),
            )
        )

    def pause() -> None:
        time.sleep(PAUSE_S)  # the next call comes later, as the kubelet's do

    try:
        out = benchmark.pedantic(
            lambda: lp.run_until_complete(prepare_work()), setup=pause, rounds=DISK_ROUNDS
        )
    finally:
        lp.close()
        jobs.close()
    assert isinstance(out[0], int) and out[1] is True
    assert f.read_text().startswith("ns/pod-") and f.read_text().endswith(" claim=u\n")
    assert len(_native.Checkpoint(str(tmp_path / "plugin" / "checkpoint.json"))) == 8
    leftovers = sorted(p.name for p in f.parent.iterdir())
    assert leftovers == ([".dev0.drafast-tmp.spare", "dev0"] if spare == "spare" else ["dev0"])
