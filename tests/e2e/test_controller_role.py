"""``drafast run --role controller`` against a real API server: two replicas elect a leader
through a coordination.k8s.io/v1 Lease, only the leader publishes the cluster-level pool (no
Node owner), a killed leader is replaced, and a stopped one releases the Lease at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drafast.app.schema import command_line
from drafast.app.settings import RunOptions
from drafast.testing.cluster import ControlPlane

pytestmark = pytest.mark.e2e
DRIVER = "fabric.example.com"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/fabric-example-com-controller"
SLICES = "/apis/resource.k8s.io/v1/resourceslices"


def wait_for(what: str, probe: Callable[[], Any], within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(0.2)
    return value


@pytest.fixture
def replicas(
    control_plane: ControlPlane, tmp_path: Path
) -> Iterator[dict[str, subprocess.Popen[str]]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    procs: dict[str, subprocess.Popen[str]] = {}
    for name in ("a", "b"):
        flags = command_line(
            RunOptions,
            {
                "role": "controller",
                "cluster": "kube",
                "kubeconfig": control_plane.kubeconfig,
                "bind_address": "",
                "lease_identity": name,
                "lease_duration_seconds": 4,
                "renew_deadline_seconds": 3,
                "retry_period_seconds": 0.5,
            },
        )
        log = (tmp_path / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "drafast", "run", "controller_driver:KIND", *flags],
            env=env,
            stderr=log,
            text=True,
        )
    try:
        yield procs
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()


def holder(cp: ControlPlane) -> str:
    try:
        return str(cp.api.get(LEASE)["spec"].get("holderIdentity") or "")
    except Exception:  # not created yet
        return ""


def our_slices(cp: ControlPlane) -> list[dict[str, Any]]:
    items = cp.api.get(SLICES)["items"]
    return [s for s in items if s["spec"]["driver"] == DRIVER]


def test_one_leader_publishes_and_a_successor_takes_over(
    control_plane: ControlPlane, replicas: dict[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    cp = control_plane
    leader = wait_for("a leader", lambda: holder(cp))
    [sl] = wait_for("the fabric pool's slice", lambda: our_slices(cp))
    assert sl["spec"]["allNodes"] is True and sl["spec"]["pool"]["name"] == "fabric"
    assert not sl["metadata"].get("ownerReferences")  # a controller's pool has no Node owner
    assert [d["name"] for d in sl["spec"]["devices"]] == ["gpu-0", "gpu-1", "gpu-2"]
    other = "b" if leader == "a" else "a"
    assert replicas[other].poll() is None  # the follower waits, it does not fail

    replicas[leader].kill()  # no release: the follower must wait for the Lease to expire
    replicas[leader].wait()
    assert wait_for("the follower to lead", lambda: holder(cp) == other, 30)
    time.sleep(1.5)
    assert [s["metadata"]["name"] for s in our_slices(cp)] == [sl["metadata"]["name"]]

    replicas[other].send_signal(signal.SIGTERM)
    assert replicas[other].wait(timeout=30) == 0, (tmp_path / f"{other}.log").read_text()
    assert holder(cp) == ""  # released on a clean stop: a successor need not wait
