"""NodePrepareResources / NodeUnprepareResources over the real sockets, the plugin in its own
process, ``dir:`` cluster mode, durable checkpoint (fsync) included. Every round checks its
answers. pytest-benchmark times the prepare; the unprepare of the previous round is timed in the
(untimed) setup and reported as extra info.

Each case runs with two clients: ``go``, the kubelet's own grpc-go DRA client in a process of its
own (benches/kubeletload, which times the calls itself), and ``python``, drafast's grpc.aio
KubeletClient in this process (timed here; its ~0.5 ms of CPU per call competes with the plugin
for the machine's cores)."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from drafast.k8s import DirStore, allocated_claim
from drafast.kubelet.client import KubeletClient
from drafast.plugin.results import PrepareResult, UnprepareResult
from drafast.types import ClaimRef, ClaimUID

from .conftest import DRIVER, percentiles, record, start_plugin, tmpfs_dir
from .goclient import Answer, GoKubelet, Results

Client = Literal["go", "python"]
CLIENT_NOTE = {"go": "grpc-go (kubelet's DRA client)", "python": "grpc.aio in pytest"}

_names = itertools.count()


class Rig:
    def __init__(self, root: Path, loop: asyncio.AbstractEventLoop, *extra: str) -> None:
        self.cdi_dir = tmpfs_dir("drafast-bench-cdi-")
        self.proc, reg = start_plugin(root, self.cdi_dir, *extra)
        self.loop = loop
        self.store = DirStore(root / "cluster")
        self.kubelet = KubeletClient(registration_socket=reg)
        self.dra_socket = loop.run_until_complete(self.kubelet.register()).endpoint
        self._go: GoKubelet | None = None

    @property
    def go(self) -> GoKubelet:
        """The Go kubelet stand-in, started on first use; one connection for the whole rig."""
        if self._go is None:
            self._go = GoKubelet(self.dra_socket)
        return self._go

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

    def call(
        self, client: Client, op: Literal["prepare", "unprepare"], groups: list[list[ClaimRef]]
    ) -> tuple[float, Results]:
        """All groups' calls at once: (seconds the calls took, each call's answers)."""
        if client == "go":
            return self.go.prepare(groups) if op == "prepare" else self.go.unprepare(groups)
        fn = self.kubelet.prepare if op == "prepare" else self.kubelet.unprepare
        t0 = time.perf_counter()
        outs = self.run_all(fn, groups)
        seconds = time.perf_counter() - t0
        return seconds, [{uid: _answer(r) for uid, r in out.items()} for out in outs]

    def close(self) -> None:
        if self._go is not None:
            self._go.close()
        self.loop.run_until_complete(self.kubelet.close())
        self.proc.terminate()
        assert self.proc.wait(30) == 0
        assert not list(self.cdi_dir.iterdir())  # every spec was removed by its unprepare
        shutil.rmtree(self.cdi_dir)


def _answer(r: PrepareResult | UnprepareResult) -> Answer:
    if isinstance(r, UnprepareResult):
        return Answer(r.error, 0, ())
    return Answer(r.error, len(r.devices), tuple(i for d in r.devices for i in d.cdi_device_ids))


class Rounds:
    """Claims for each round, split into ``calls`` concurrent calls of equal size, sent by
    ``client``."""

    def __init__(self, rig: Rig, n_claims: int, calls: int, client: Client = "python") -> None:
        self.rig, self.n, self.calls, self.client = rig, n_claims, calls, client
        self.groups: list[list[ClaimRef]] = []
        self.prepare_s: list[float] = []
        self.unprepare_s: list[float] = []

    def _unprepare_previous(self) -> None:
        if not self.groups:
            return
        seconds, outs = self.rig.call(self.client, "unprepare", self.groups)
        self.unprepare_s.append(seconds)
        assert all(r.error == "" for out in outs for r in out.values())

    def setup(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        self._unprepare_previous()
        refs = self.rig.claims(self.n)
        size = self.n // self.calls
        self.groups = [refs[i : i + size] for i in range(0, self.n, size)]
        return (), {}

    def prepare(self) -> None:
        seconds, outs = self.rig.call(self.client, "prepare", self.groups)
        self.prepare_s.append(seconds)
        for group, out in zip(self.groups, outs, strict=True):
            assert set(out) == {r.uid for r in group}
            for r in group:
                assert out[r.uid].error == "", out[r.uid].error
                assert out[r.uid].devices == 1

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
            client=CLIENT_NOTE[self.client],
        )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop) -> Iterator[Rig]:
    r = Rig(tmp_path_factory.mktemp("bench-plugin"), loop)
    yield r
    r.close()


@pytest.mark.parametrize("client", ["go", "python"])
@pytest.mark.parametrize(
    "case",  # (claims per round, concurrent calls they are split into, rounds)
    [(1, 1, 200), (64, 1, 30), (64, 64, 30)],
    ids=["1-claim", "64-claims-one-call", "64-concurrent-calls"],
)
def test_prepare(benchmark: Any, rig: Rig, case: tuple[int, int, int], client: Client) -> None:
    n_claims, calls, rounds = case
    Rounds(rig, n_claims, calls, client).run(benchmark, rounds)
