"""The reconciler's metrics are incremented as writes happen, with the registry's names."""

from __future__ import annotations

from pathlib import Path

from drafast.k8s.dirslices import DirSlices
from drafast.k8s.dirstore import DirStore
from drafast.publish import OwnerRef, PublishMetrics, SliceReconciler
from drafast.runtime.metrics import Metrics
from drafast.types import Device, DeviceName, DriverResources, NodeName, Pool, PoolName, Slice

DRIVER = "gpu.example.com"


def resources(n: int) -> DriverResources:
    devices = tuple(Device(name=DeviceName(f"gpu-{i}")) for i in range(n))
    pool = Pool(slices=(Slice(devices=devices),), node_name=NodeName("n1"))
    return DriverResources(pools={PoolName("n1"): pool})


def writes(m: Metrics, verb: str) -> float | None:
    labels = {"driver": DRIVER, "verb": verb}
    return m.registry.get_sample_value("drafast_resourceslice_writes_total", labels)


async def test_writes_by_verb_and_publish_lag(tmp_path: Path) -> None:
    m = Metrics(DRIVER)
    now = [10.0]
    rec = SliceReconciler(
        DirSlices(DirStore(tmp_path)),
        DRIVER,
        OwnerRef(name=NodeName("n1"), uid="u"),
        clock=lambda: now[0],
        metrics=PublishMetrics(m),
    )
    rec.set_desired(resources(200))
    now[0] += 1.5
    await rec.sync_once()
    assert (writes(m, "create"), writes(m, "update"), writes(m, "delete")) == (2.0, 0.0, 0.0)
    lag = m.registry.get_sample_value("drafast_publish_lag_seconds", {"driver": DRIVER})
    assert lag == 1.5
    rec.set_desired(resources(100))  # one slice fewer, the other rewritten
    await rec.sync_once()
    assert (writes(m, "create"), writes(m, "update"), writes(m, "delete")) == (2.0, 1.0, 1.0)
    await rec.sync_once()  # nothing changed: nothing counted
    assert writes(m, "update") == 1.0 and writes(m, "delete") == 1.0
