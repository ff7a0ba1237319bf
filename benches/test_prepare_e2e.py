"""NodePrepareResources / NodeUnprepareResources over the real sockets, the plugin in its own
process, ``dir:`` cluster mode, durable checkpoint (fsync) included. Every round checks its
answers. pytest-benchmark times the prepare; the unprepare of the previous round is timed in the
(untimed) setup and reported as extra info."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drafast.k8s import DirStore, allocated_claim
from drafast.kubelet.client import KubeletClient
from drafast.types import ClaimRef, ClaimUID

from .conftest import DRIVER, percentiles, record, start_plugin, tmpfs_dir

_names = itertools.count()


class Rig:
    def __init__(self, root: Path, loop: asyncio.AbstractEventLoop, *extra: str) -> None:
        self.cdi_dir = tmpfs_dir("drafast-bench-cdi-")
        self.proc, reg = start_plugin(root, self.cdi_dir, *extra)
        self.loop = loop
        self.store = DirStore(root / "cluster")
        self.kubelet = KubeletClient(registration_socket=reg)
        loop.run_until_complete(self.kubelet.register())

    def claims(self, n: int) -> list[ClaimRef]:
        refs = []
        for _ in range(n):
            i = next(_names)
            obj = allocated_claim(
                namespace="bench",
                name=f"c{i}",
                driver=DRIVER,
                devices=[("r", "node-1", f"file-{i % 8}")],
                pods=[f"pod-{i}"],
            )
            self.store.put("resourceclaims", obj, "bench")
            refs.append(
                ClaimRef(namespace="bench", name=f"c{i}", uid=ClaimUID(obj["metadata"]["uid"]))
            )
        return refs

    def run_all(self, call: Any, groups: list[list[ClaimRef]]) -> list[Any]:
        """One kubelet call per group, all at once, on the benchmark's loop."""

        async def go() -> list[Any]:
            return list(await asyncio.gather(*(call(g) for g in groups)))

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.kubelet.close())
        self.proc.terminate()
        assert self.proc.wait(30) == 0
        assert not list(self.cdi_dir.iterdir())  # every spec was removed by its unprepare
        shutil.rmtree(self.cdi_dir)


class Rounds:
    """Claims for each round, split into ``calls`` concurrent calls of equal size."""

    def __init__(self, rig: Rig, n_claims: int, calls: int) -> None:
        self.rig, self.n, self.calls = rig, n_claims, calls
        self.groups: list[list[ClaimRef]] = []
        self.prepare_s: list[float] = []
        self.unprepare_s: list[float] = []

    def _unprepare_previous(self) -> None:
        if not self.groups:
            return
        t0 = time.perf_counter()
        outs = self.rig.run_all(self.rig.kubelet.unprepare, self.groups)
        self.unprepare_s.append(time.perf_counter() - t0)
        assert all(r.error == "" for out in outs for r in out.values())

    def setup(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        self._unprepare_previous()
        refs = self.rig.claims(self.n)
        size = self.n // self.calls
        self.groups = [refs[i : i + size] for i in range(0, self.n, size)]
        return (), {}

    def prepare(self) -> None:
        t0 = time.perf_counter()
        outs = self.rig.run_all(self.rig.kubelet.prepare, self.groups)
        self.prepare_s.append(time.perf_counter() - t0)
        for group, out in zip(self.groups, outs, strict=True):
            assert set(out) == {r.uid for r in group}
            for r in group:
                assert out[r.uid].error == "", out[r.uid].error
                assert len(out[r.uid].devices) == 1

    def run(self, benchmark: Any, rounds: int, warmup: int = 3) -> None:
        benchmark.pedantic(self.prepare, setup=self.setup, rounds=rounds + warmup, iterations=1)
        self._unprepare_previous()
        un = percentiles(self.unprepare_s[warmup:])
        record(
            benchmark,
            self.prepare_s[warmup:],
            self.n,
            unprepare_p50_ms=un["p50_ms"],
            unprepare_p99_ms=un["p99_ms"],
        )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop) -> Iterator[Rig]:
    r = Rig(tmp_path_factory.mktemp("bench-plugin"), loop)
    yield r
    r.close()


@pytest.mark.parametrize(
    ("n_claims", "calls", "rounds"),
    [(1, 1, 200), (64, 1, 30), (64, 64, 30)],
    ids=["1-claim", "64-claims-one-call", "64-concurrent-calls"],
)
def test_prepare(benchmark: Any, rig: Rig, n_claims: int, calls: int, rounds: int) -> None:
    Rounds(rig, n_claims, calls).run(benchmark, rounds)
