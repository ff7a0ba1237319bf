"""NodePrepareResources latency for the NX driver: the plugin in-process (``running_plugin``),
real gRPC over real Unix sockets, ``dir:`` cluster mode, durable checkpoint, CDI specs on tmpfs,
against the LPAR fixture host root. Every round checks its answers; the unprepare of the
previous round runs (untimed) in the setup.

Run:
    .venv/bin/python -m pytest benches/test_prepare_nx.py -q
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nx_fixture import trees

from drafast.testing import (
    PluginUnderTest,
    allocated_claim,
    plugin_options,
    running_plugin,
)
from drafast.testing.bench import record, tmpfs_dir
from drafast.types import ClaimRef

DRIVER = "nx.drafast.dev"
_names = itertools.count()


class NxRig:
    def __init__(self, root: Path, loop: asyncio.AbstractEventLoop, **driver_options: Any):
        host = trees.build("lpar-nx", root / "host")
        trees.make_device_node(host)  # else the numbers come from sysfs: same work for prepare
        self.cdi_dir = tmpfs_dir("drafast-bench-nx-cdi-")
        opts = plugin_options(
            root,
            driver="nx",
            driver_name=DRIVER,
            cdi_dir=self.cdi_dir,
            log_level="warning",
            driver_options={"host_root": str(host), **driver_options},
        )
        self.loop = loop
        self._cm = running_plugin(opts)
        self.t: PluginUnderTest = loop.run_until_complete(self._cm.__aenter__())
        self.prepare_s: list[float] = []
        self.current: list[ClaimRef] = []

    def claims(self, n: int, credits: str | None) -> list[ClaimRef]:
        refs = []
        for _ in range(n):
            name = f"c{next(_names)}"
            obj = allocated_claim(
                namespace="bench",
                name=name,
                driver=DRIVER,
                devices=[("nx", "node-1", "nx-gzip")],
                pods=[f"pod-{name}"],
            )
            if credits is not None:
                result = obj["status"]["allocation"]["devices"]["results"][0]
                result["shareID"] = f"share-{name}"
                result["consumedCapacity"] = {"credits": credits}
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
        for refs, out in zip(calls, outs, strict=True):
            for r in refs:
                assert out[r.uid].error == "", out[r.uid].error
                [dev] = out[r.uid].devices
                assert dev.device == "nx-gzip"
                assert dev.cdi_device_ids[0].startswith(f"k8s.{DRIVER}/nx={r.uid}-nx-gzip")
        assert all(
            (self.cdi_dir / f"k8s.{DRIVER}-nx_{r.uid}.json").exists() for c in calls for r in c
        )

    def close(self) -> None:
        self.unprepare_current()
        self.loop.run_until_complete(self._cm.__aexit__(None, None, None))
        shutil.rmtree(self.cdi_dir, ignore_errors=True)


@pytest.fixture
def exclusive_rig(
    tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[NxRig]:
    rig = NxRig(tmp_path_factory.mktemp("bench-nx-exclusive"), loop)
    yield rig
    rig.close()


@pytest.fixture
def shared_rig(
    tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[NxRig]:
    rig = NxRig(
        tmp_path_factory.mktemp("bench-nx-shared"), loop, nx_sharing="shared", nx_max_shares=64
    )
    yield rig
    rig.close()


def test_prepare_one_exclusive_claim(benchmark: Any, exclusive_rig: NxRig) -> None:
    """The common case: one pod, one claim for the node's accelerator (the previous holder is
    unprepared first, as exclusive mode requires)."""
    rig = exclusive_rig
    rounds, warmup = 200, 5

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        rig.unprepare_current()
        rig.current = rig.claims(1, None)
        return ([rig.current],), {}

    benchmark.pedantic(rig.prepare, setup=setup, rounds=rounds + warmup, iterations=1)
    record(benchmark, rig.prepare_s[warmup:], 1)


def test_prepare_32_shared_claims_concurrently(benchmark: Any, shared_rig: NxRig) -> None:
    """Shared mode: 32 pods start at once, each claim taking 2 of 64 credits, one call each."""
    rig = shared_rig
    rounds, warmup = 30, 3

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        rig.unprepare_current()
        rig.current = rig.claims(32, "2")
        return ([[r] for r in rig.current],), {}

    benchmark.pedantic(rig.prepare, setup=setup, rounds=rounds + warmup, iterations=1)
    record(benchmark, rig.prepare_s[warmup:], 32)
    # full: one more claim must be refused
    [extra] = rig.claims(1, "1")
    out = rig.loop.run_until_complete(rig.t.kubelet.prepare([extra]))
    assert "has 0 of 64 credits left" in out[extra.uid].error
