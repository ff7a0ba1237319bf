"""NRI CreateContainer round trip: the runtime stand-in (drafast.testing.nri, playing containerd
with NRI 0.8.0) sends CreateContainer over a real Unix socket; NriPlugin decodes it, calls a
trivial hook under its lock and answers a cpuset adjustment that the stand-in applies. Both
ends run on one uvloop, so this times the whole exchange: mux, ttrpc, protobuf, conversion.

Every round checks the container came back pinned. Run:
    .venv/bin/python -m pytest benches/test_nri_roundtrip.py -q -p no:randomly
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drafast.nri.plugin import NriPlugin
from drafast.testing.bench import BackgroundLoop, record
from drafast.testing.nri import NriRuntime
from drafast.types import ContainerAdjustment, ContainerRef, ContainerUpdate

ROUNDS = 2000
PINNED = "2-3"


class PinHooks:
    """Pins every new container to PINNED; nothing else."""

    def __init__(self) -> None:
        self.created = 0

    async def synchronize(self, containers: Sequence[ContainerRef]) -> Sequence[ContainerUpdate]:
        return ()

    async def create(self, container: ContainerRef) -> ContainerAdjustment:
        self.created += 1
        return ContainerAdjustment(cpuset_cpus=PINNED)

    async def update(self, container: ContainerRef) -> Sequence[ContainerUpdate]:
        return ()

    async def stopped(self, container: ContainerRef) -> Sequence[ContainerUpdate]:
        return ()

    async def removed(self, container: ContainerRef) -> None:
        return None


def test_create_container_round_trip(benchmark: Any, tmp_path: Path, loop: BackgroundLoop) -> None:
    benchmark.group = "NRI CreateContainer round trip (runtime stand-in <-> NriPlugin)"
    hooks = PinHooks()

    async def start() -> tuple[NriRuntime, asyncio.Task[None]]:
        rt = NriRuntime(tmp_path / "nri.sock")
        await rt.start()
        plugin = NriPlugin(rt.socket, name="bench", index="10", hooks=hooks)
        task = asyncio.create_task(plugin.run(), name="nri-plugin-bench")
        await rt.wait_synchronized()
        return rt, task

    rt, task = loop.run_until_complete(start())
    samples: list[float] = []
    env = {"PATH": "/usr/bin:/bin", "DRA_CPUSET_0000-bench": PINNED}

    async def create() -> float:
        t0 = time.perf_counter()
        c = await rt.create_container("bench-pod", "app", env=env)
        dt = time.perf_counter() - t0
        assert c.cpus == PINNED, f"container {c.id} not pinned: {c.cpus!r}"
        return dt

    def one() -> None:
        samples.append(loop.run_until_complete(create()))

    try:
        benchmark.pedantic(one, rounds=ROUNDS, iterations=1, warmup_rounds=50)
    finally:

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await rt.close()

        loop.run_until_complete(stop())
    timed = samples[-ROUNDS:]  # the warm-up rounds are not reported
    assert hooks.created == len(samples) == ROUNDS + 50
    assert rt.update_containers_calls == 0
    assert rt.syncs == 1  # never dropped (no timeout, no oversized frame)
    record(benchmark, timed, 1)
    benchmark.extra_info["calls_per_s"] = benchmark.extra_info.pop("claims_per_s")
