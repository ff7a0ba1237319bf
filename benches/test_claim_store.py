"""Durable checkpoint commits through the Python face (group commit over the native store)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from drafast.runtime.iojobs import IoJobs
from drafast.state import ClaimRecord, ClaimStore
from drafast.testing.bench import record
from drafast.types import (
    ClaimRef,
    ClaimUID,
    ContainerEdits,
    DeviceName,
    Mount,
    PoolName,
    PreparedClaim,
    PreparedDevice,
)

_ids = itertools.count()


def _record() -> ClaimRecord:
    uid = f"{next(_ids):08d}-0000-4000-8000-000000000000"
    mount = Mount(host_path="/srv/f", container_path="/srv/f", options=("ro", "bind"))
    return ClaimRecord(
        ref=ClaimRef(namespace="bench", name=f"c-{uid[:8]}", uid=ClaimUID(uid)),
        prepared=PreparedClaim(
            devices=(
                PreparedDevice(
                    requests=("r",),
                    pool=PoolName("node-1"),
                    device=DeviceName("f"),
                    edits=ContainerEdits(mounts=(mount,)),
                ),
            ),
            state={"files": ["/srv/f"]},
        ),
        cdi_ids=((f"k8s.file.drafast.dev/file={uid}-f",),),
    )


@pytest.mark.parametrize("n", [1, 64], ids=["1-record", "64-concurrent-records"])
def test_commit(benchmark: Any, tmp_path: Path, loop: asyncio.AbstractEventLoop, n: int) -> None:
    store = ClaimStore(tmp_path, io=IoJobs("bench"))
    samples: list[float] = []

    def commit() -> None:
        import time

        records = [_record() for _ in range(n)]

        async def go() -> None:
            await asyncio.gather(*(store.put(r) for r in records))

        before = store.commits
        t0 = time.perf_counter()
        loop.run_until_complete(go())
        samples.append(time.perf_counter() - t0)
        assert all(r.ref.uid in store for r in records)
        assert store.commits - before <= (1 if n == 1 else 3)  # grouped, not one fsync each

    benchmark.pedantic(commit, rounds=100 if n == 1 else 30, iterations=1)
    reopened = ClaimStore(tmp_path, io=IoJobs("bench"))
    assert len(reopened) == len(store)
    record(benchmark, samples, n, commits=store.commits)
