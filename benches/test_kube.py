"""Against a real kube-apiserver (+ etcd, scheduler, controller-manager): prepare latency with the
claim GET included, the cost of publishing 1,000 and 10,000 devices, and the plugin's memory.
Every benchmark checks its result; writes are counted from the API server's audit log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drafast.app.schema import command_line
from drafast.app.settings import RunOptions
from drafast.k8s import KubeAPI, KubeSettings, node_uid
from drafast.k8s.slices import KubeSlices
from drafast.publish import OwnerRef, SliceReconciler
from drafast.testing.bench import (
    BackgroundLoop,
    KubeClaims,
    PluginProcess,
    PrepareRig,
    open_kubelet,
    percentiles,
    tmpfs_dir,
)
from drafast.testing.cluster import ControlPlane
from drafast.types import (
    Device,
    DeviceName,
    DriverResources,
    NodeName,
    Pool,
    PoolName,
    Slice,
)

from .conftest import DRIVER, FILES, NODE, control_plane, file_driver

V1 = "/apis/resource.k8s.io/v1"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with control_plane(tmp_path_factory.mktemp("bench-cp")) as plane:
        yield plane


def start_rig(cp: ControlPlane, root: Path, loop: BackgroundLoop) -> PrepareRig:
    """``drafast run file --cluster kube`` in its own process, claims on the API server reserved
    for real pods, the Go kubelet stand-in (the Python one without go)."""
    cdi = tmpfs_dir("drafast-bench-kube-cdi-")
    plugin = PluginProcess.start_driver(
        "file",
        root,
        loop,
        *command_line(RunOptions, {"kubeconfig": cp.kubeconfig, "log_level": "warning"}),
        driver_options=file_driver(root),
        cdi_dir=cdi,
        node_name=NODE,
        cluster="kube",
    )
    claims = KubeClaims(
        cp.api, driver=DRIVER, pool=NODE, devices=[f"file-{i}" for i in range(FILES)], node=NODE
    )
    kubelet = open_kubelet("auto", plugin.dra_socket, plugin.registration_socket, loop)
    return PrepareRig(plugin, claims, kubelet, cdi_dir=cdi)


@pytest.fixture(scope="module")
def rig(
    cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory, loop: BackgroundLoop
) -> Iterator[PrepareRig]:
    r = start_rig(cp, tmp_path_factory.mktemp("bench-kube-plugin"), loop)
    yield r
    r.close()


@pytest.mark.parametrize(
    ("n", "rounds"), [(1, 100), (64, 15)], ids=["1-claim", "64-concurrent-claims"]
)
def test_prepare_with_real_api(benchmark: Any, rig: PrepareRig, n: int, rounds: int) -> None:
    rig.bench_prepare(benchmark, claims=n, calls=n, rounds=rounds, warmup=2)
    benchmark.extra_info["plugin_rss_kib"] = rig.plugin.rss_kib()


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
