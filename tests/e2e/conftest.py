"""End-to-end fixtures: a real etcd + kube-apiserver + kube-scheduler + kube-controller-manager.

The binaries come from ``make cluster-bins`` (``tests/e2e/tools/cluster-bins.sh``); the directory is
``$DRAFAST_K8S_BIN`` or ``~/.cache/drafast/k8s-v<version>/bin``. Missing binaries FAIL the tests
(never skip): a green run must mean the real control plane ran.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drafast.testing.bins import default_bin_dir, missing_binaries
from drafast.testing.cluster import ApiError, ControlPlane, ControlPlaneError

NODE_NAME = "vm"


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too so `--strict-markers` accepts it wherever pytest is started from.
    config.addinivalue_line(
        "markers", "e2e: needs the real Kubernetes binaries (make cluster-bins)"
    )


@pytest.fixture(scope="session")
def k8s_bin_dir() -> Path:
    """The directory with etcd, kube-* and kubectl; fails (never skips) if incomplete."""
    bin_dir = default_bin_dir()
    missing = missing_binaries(bin_dir)
    if missing:
        pytest.fail(
            f"Kubernetes binaries missing in {bin_dir}: {', '.join(missing)}. "
            "Run `make cluster-bins` (or set DRAFAST_K8S_BIN to a directory that has them).",
            pytrace=False,
        )
    return bin_dir


@pytest.fixture(scope="session")
def control_plane(
    k8s_bin_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """One control plane for the whole session; torn down even if tests fail.

    Logs, audit log and kubeconfig stay in the session's basetemp (``.../controlplane0``).
    """
    workdir = tmp_path_factory.mktemp("controlplane")
    try:
        cp = ControlPlane.start(k8s_bin_dir, workdir)
    except ControlPlaneError as e:
        pytest.fail(f"control plane did not start (workdir {workdir}):\n{e}", pytrace=False)
    try:
        yield cp
    finally:
        cp.stop()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_ready_node(cp: ControlPlane, name: str = NODE_NAME, timeout: float = 60.0) -> None:
    """Create Node ``name`` as a kubelet would look to the scheduler: Ready, untainted.

    The NodeTaint admission puts ``node.kubernetes.io/not-ready:NoSchedule`` on a new Node; the
    real node-lifecycle controller removes it once the status says Ready. No kubelet heartbeats
    follow, so the node stays Ready for ``--node-monitor-grace-period`` (50 s by default) only --
    call :func:`heartbeat_node` in longer tests.
    """
    try:
        cp.api.create(
            "/api/v1/nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
                },
            },
        )
    except ApiError as e:
        if e.status != 409:
            raise
    resources = {"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "10Gi"}
    cp.api.merge_patch(
        f"/api/v1/nodes/{name}/status",
        {
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "addresses": [{"type": "Hostname", "address": name}],
                "conditions": _conditions(),
            }
        },
    )
    deadline = time.monotonic() + timeout
    while True:
        node = cp.api.get(f"/api/v1/nodes/{name}")
        taints = node["spec"].get("taints") or []
        if not taints:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"node {name} still tainted after {timeout}s: {taints}")
        time.sleep(0.2)


def _conditions() -> list[dict[str, str]]:
    now = _now()
    conds = [("Ready", "True", "KubeletReady")]
    conds += [(t, "False", f"KubeletHasNo{t}") for t in ("MemoryPressure", "DiskPressure")]
    conds += [("PIDPressure", "False", "KubeletHasSufficientPID")]
    return [
        {
            "type": t,
            "status": s,
            "reason": r,
            "message": "drafast e2e fake node",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        for t, s, r in conds
    ]


def heartbeat_node(cp: ControlPlane, name: str = NODE_NAME) -> None:
    """Refresh the Ready heartbeat, keeping the node-lifecycle controller from marking it lost."""
    cp.api.merge_patch(f"/api/v1/nodes/{name}/status", {"status": {"conditions": _conditions()}})


@pytest.fixture
def ready_node(control_plane: ControlPlane) -> Iterator[str]:
    """Node ``vm``: Ready, allocatable pods, no taints; deleted afterwards."""
    make_ready_node(control_plane)
    try:
        yield NODE_NAME
    finally:
        control_plane.kubectl("delete", "node", NODE_NAME, "--ignore-not-found", check=False)
