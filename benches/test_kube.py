"""Against a real kube-apiserver (+ etcd, scheduler, controller-manager): prepare latency with the
claim GET included, the cost of publishing 1,000 and 10,000 devices, and the plugin's memory.
Every benchmark checks its result; writes are counted from the API server's audit log."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drafast.app.schema import command_line
from drafast.app.settings import RunOptions
from drafast.k8s import KubeAPI, KubeSettings, node_uid
from drafast.k8s.objects import allocated_claim
from drafast.k8s.slices import KubeSlices
from drafast.kubelet.client import KubeletClient
from drafast.publish import OwnerRef, SliceReconciler
from drafast.testing.bins import default_bin_dir, missing_binaries
from drafast.testing.cluster import ControlPlane
from drafast.types import (
    ClaimRef,
    ClaimUID,
    Device,
    DeviceName,
    DriverResources,
    NodeName,
    Pool,
    PoolName,
    Slice,
)

from .conftest import DRIVER, percentiles, record, start_plugin, tmpfs_dir

NODE = "bench-node"
NS = "bench"
V1 = "/apis/resource.k8s.io/v1"
_ids = itertools.count()


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    bins = default_bin_dir()
    assert not missing_binaries(bins), "run `make cluster-bins` first"
    plane = ControlPlane.start(bins, tmp_path_factory.mktemp("bench-cp"))
    try:
        plane.api.create(
            "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}
        )
        plane.api.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        )
        yield plane
    finally:
        plane.stop()


class KubePlugin:
    """``drafast run file --cluster kube`` in its own process, and a kubelet stand-in."""

    def __init__(self, cp: ControlPlane, root: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.cp, self.loop = cp, loop
        self.cdi = tmpfs_dir("drafast-bench-kube-cdi-")
        # the offline rig's command, pointed at the API server (later flags win)
        self.proc, reg = start_plugin(
            root,
            self.cdi,
            *command_line(
                RunOptions,
                {"node_name": NODE, "cluster": "kube", "kubeconfig": cp.kubeconfig},
            ),
        )
        self.kubelet = KubeletClient(registration_socket=reg)
        loop.run_until_complete(self.kubelet.register())

    def claims(self, n: int) -> list[ClaimRef]:
        refs = []
        for _ in range(n):
            i = next(_ids)
            obj = allocated_claim(
                namespace=NS,
                name=f"c{i}",
                driver=DRIVER,
                devices=[("r", NODE, f"file-{i % 8}")],
                pods=[f"p{i}"],
            )
            made = self.cp.api.create(
                f"{V1}/namespaces/{NS}/resourceclaims",
                {k: v for k, v in obj.items() if k != "status"},
            )
            obj["metadata"] = made["metadata"]
            self.cp.api.request(
                "PUT",
                f"{V1}/namespaces/{NS}/resourceclaims/{made['metadata']['name']}/status",
                {**made, "status": obj["status"]},
            )
            refs.append(ClaimRef(namespace=NS, name=f"c{i}", uid=ClaimUID(made["metadata"]["uid"])))
        return refs

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def close(self) -> None:
        self.loop.run_until_complete(self.kubelet.close())
        self.proc.terminate()
        assert self.proc.wait(30) == 0


@pytest.fixture(scope="module")
def plugin(
    cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[KubePlugin]:
    p = KubePlugin(cp, tmp_path_factory.mktemp("bench-kube-plugin"), loop)
    yield p
    p.close()


@pytest.mark.parametrize(
    ("n", "rounds"), [(1, 100), (64, 15)], ids=["1-claim", "64-concurrent-claims"]
)
def test_prepare_with_real_api(benchmark: Any, plugin: KubePlugin, n: int, rounds: int) -> None:
    samples: list[float] = []
    current: list[ClaimRef] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        if current:
            out = plugin.loop.run_until_complete(plugin.kubelet.unprepare(current))
            assert all(r.error == "" for r in out.values())
        current[:] = plugin.claims(n)
        return (), {}

    def prepare() -> None:
        async def go() -> list[Any]:
            return list(await asyncio.gather(*(plugin.kubelet.prepare([r]) for r in current)))

        t0 = time.perf_counter()
        outs = plugin.loop.run_until_complete(go())
        samples.append(time.perf_counter() - t0)
        for r, out in zip(current, outs, strict=True):
            assert out[r.uid].error == "", out[r.uid].error

    benchmark.pedantic(prepare, setup=setup, rounds=rounds + 2, iterations=1)
    record(benchmark, samples[2:], n, plugin_rss_kib=plugin.rss_kib())


def _resources(n: int) -> DriverResources:
    devices = tuple(
        Device(name=DeviceName(f"d-{i:05d}"), attributes={"index": i, "model": "m"})
        for i in range(n)
    )
    return DriverResources(
        pools={PoolName(NODE): Pool(slices=(Slice(devices=devices),), node_name=NodeName(NODE))}
    )


@pytest.mark.parametrize("devices", [1_000, 10_000])
def test_publish(
    benchmark: Any, cp: ControlPlane, loop: asyncio.AbstractEventLoop, devices: int
) -> None:
    samples: list[float] = []
    counted: list[int] = []

    async def publish_once() -> int:
        api = KubeAPI(KubeSettings(kubeconfig=cp.kubeconfig))
        try:
            owner = OwnerRef(name=NodeName(NODE), uid=await node_uid(api, NodeName(NODE)))
            rec = SliceReconciler(KubeSlices(api), f"pub{devices}.drafast.dev", owner)
            rec.set_desired(_resources(devices))
            return (await rec.sync_once()).writes
        finally:
            await api.close()

    def clear() -> tuple[tuple[Any, ...], dict[str, Any]]:
        sel = f"spec.driver=pub{devices}.drafast.dev"
        for s in cp.api.get(f"{V1}/resourceslices?fieldSelector={sel}")["items"]:
            cp.api.delete(f"{V1}/resourceslices/{s['metadata']['name']}")
        return (), {}

    def run() -> None:
        before = cp.audit.count(resource="resourceslices", verbs=frozenset({"create"}))
        t0 = time.perf_counter()
        writes = loop.run_until_complete(publish_once())
        samples.append(time.perf_counter() - t0)
        expected = -(-devices // 128)
        assert writes == expected
        counted.append(
            cp.audit.count(resource="resourceslices", verbs=frozenset({"create"})) - before
        )
        assert counted[-1] == expected

    benchmark.pedantic(run, setup=clear, rounds=3 if devices > 1000 else 5, iterations=1)
    stats = percentiles(samples)
    benchmark.extra_info.update(
        p50_ms=stats["p50_ms"], p99_ms=stats["p99_ms"], api_writes=counted[-1], devices=devices
    )
