"""NodePrepareResources latency for the CPU driver: the plugin in-process (``running_plugin``),
real gRPC over real Unix sockets, ``dir:`` cluster mode, durable checkpoint, CDI specs on tmpfs,
against the 2-socket SMT fixture topology. Each claim takes 2 CPUs of a NUMA node's capacity,
so every prepare runs the native packer; every round checks the CPUs it got. The unprepare of
the previous round runs (untimed) in the setup.

Run:
    .venv/bin/python -m pytest benches/test_prepare_cpu.py -q
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from drafast.drivers.cpu.cpulist import parse_cpulist
from drafast.testing import PluginUnderTest, allocated_claim, plugin_options, running_plugin
from drafast.testing.bench import record, tmpfs_dir
from drafast.testing.sysfs import two_socket_smt, write_sysfs
from drafast.types import ClaimRef

DRIVER = "cpu.drafast.dev"
_names = itertools.count()


class CpuRig:
    def __init__(self, root: Path, loop: asyncio.AbstractEventLoop) -> None:
        host = write_sysfs(root / "host", two_socket_smt())
        self.cdi_dir = tmpfs_dir("drafast-bench-cpu-cdi-")
        opts = plugin_options(
            root,
            driver="cpu",
            driver_name=DRIVER,
            cdi_dir=self.cdi_dir,
            log_level="warning",
            driver_options={"host_root": str(host)},
        )
        self.loop = loop
        self._cm = running_plugin(opts)
        self.t: PluginUnderTest = loop.run_until_complete(self._cm.__aenter__())
        self.prepare_s: list[float] = []
        self.current: list[ClaimRef] = []

    def claims(self, n: int) -> list[ClaimRef]:
        refs = []
        for _ in range(n):
            i = next(_names)
            obj = allocated_claim(
                namespace="bench",
                name=f"c{i}",
                driver=DRIVER,
                devices=[("cpus", "node-1", f"cpudevnuma{i % 4:03d}")],
                pods=[f"pod-c{i}"],
            )
            result = obj["status"]["allocation"]["devices"]["results"][0]
            result["shareID"] = f"00000000-0000-0000-0000-{i:012d}"
            result["consumedCapacity"] = {f"{DRIVER}/cpu": "2"}
            refs.append(self.t.add_claim(obj))
        return refs

    def unprepare_current(self) -> None:
        if self.current:
            out = self.loop.run_until_complete(self.t.kubelet.unprepare(self.current))
            assert all(r.error == "" for r in out.values())
            self.current = []

    def prepare(self, calls: list[list[ClaimRef]]) -> None:
        async def go() -> list[Any]:
            return list(await asyncio.gather(*(self.t.kubelet.prepare(c) for c in calls)))

        t0 = time.perf_counter()
        outs = self.loop.run_until_complete(go())
        self.prepare_s.append(time.perf_counter() - t0)
        taken: set[int] = set()
        for refs, out in zip(calls, outs, strict=True):
            for r in refs:
                assert out[r.uid].error == "", out[r.uid].error
                spec = orjson.loads((self.cdi_dir / f"k8s.{DRIVER}-cpu_{r.uid}.json").read_bytes())
                [env] = spec["devices"][0]["containerEdits"]["env"]
                cpus = parse_cpulist(env.split("=", 1)[1])
                assert len(cpus) == 2 and not cpus & taken  # a whole core, no CPU twice
                taken |= cpus

    def close(self) -> None:
        self.unprepare_current()
        self.loop.run_until_complete(self._cm.__aexit__(None, None, None))
        shutil.rmtree(self.cdi_dir, ignore_errors=True)


@pytest.fixture
def rig(
    tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[CpuRig]:
    r = CpuRig(tmp_path_factory.mktemp("bench-cpu"), loop)
    yield r
    r.close()


def test_prepare_one_cpu_claim(benchmark: Any, rig: CpuRig) -> None:
    """The common case: one pod, one claim for 2 CPUs of a NUMA node."""
    rounds, warmup = 200, 5

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        rig.unprepare_current()
        rig.current = rig.claims(1)
        return ([rig.current],), {}

    benchmark.pedantic(rig.prepare, setup=setup, rounds=rounds + warmup, iterations=1)
    record(benchmark, rig.prepare_s[warmup:], 1)


def test_prepare_32_cpu_claims_concurrently(benchmark: Any, rig: CpuRig) -> None:
    """32 pods start at once, each with a 2-CPU claim (64 of the node's 128 CPUs), one call each."""
    rounds, warmup = 30, 3

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        rig.unprepare_current()
        rig.current = rig.claims(32)
        return ([[r] for r in rig.current],), {}

    benchmark.pedantic(rig.prepare, setup=setup, rounds=rounds + warmup, iterations=1)
    record(benchmark, rig.prepare_s[warmup:], 32)
