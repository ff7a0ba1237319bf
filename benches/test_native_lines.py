"""File-driver claim lines: drafast._native.rewrite_claim_lines vs the pure-Python reference
(tests/native/reference_lines.py), and the native I/O worker vs a Python thread hop.

Every benchmark also checks its result. Run:
    .venv/bin/python -m pytest benches/test_native_lines.py -q
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from drafast import _native
from drafast.runtime.iojobs import IoJobs
from drafast.testing.bench import BackgroundLoop, tmpfs_dir

from .conftest import reference

ref = reference("reference_lines")
IMPLS = ["native", "reference"]
ROUNDS = 300
CLAIMS = 64  # claim lines already in the shared file


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
