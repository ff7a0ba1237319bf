from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from drafast.testing.cluster.nodeconfig import containerd_config, kubelet_argv, kubelet_config
from drafast.testing.images import PAUSE_IMAGE


@pytest.mark.parametrize(("major", "version"), [(1, 2), (2, 3)])
def test_containerd_config_is_toml_of_the_version_containerd_expects(
    major: int, version: int
) -> None:
    w = Path("/w")
    text = containerd_config(
        major,
        root=w / "root",
        state=w / "state",
        address=w / "run/c.sock",
        runc=w / "bin/runc",
        runc_root=w / "runc",
        cni_bin=w / "cni",
        cni_conf=w / "cni/net.d",
        cdi_dirs=[w / "cdi"],
        nri_dir=w / "nri",
        opt_dir=w / "opt",
    )
    cfg = tomllib.loads(text)
    assert cfg["version"] == version
    assert cfg["grpc"]["address"] == "/w/run/c.sock"
    assert PAUSE_IMAGE in text
    assert cfg["plugins"]["io.containerd.nri.v1.nri"]["socket_path"] == "/w/nri/nri.sock"


def test_kubelet_config_and_flags() -> None:
    cfg = kubelet_config(
        port=1,
        healthz_port=2,
        runtime_endpoint="unix:///w/c.sock",
        cgroup_root="/drafast-node-1",
        pod_logs_dir=Path("/w/pod-logs"),
        volume_plugin_dir=Path("/w/vp"),
    )
    assert cfg["failCgroupV1"] is False
    assert cfg["oomScoreAdj"] == 0
    argv = kubelet_argv(
        Path("/bin/kubelet"),
        config=Path("/w/kubelet-config.yaml"),
        kubeconfig=Path("/cp/admin.kubeconfig"),
        root_dir=Path("/w/kubelet"),
        node_name="vm",
        verbosity=2,
        component_flags=["--feature-gates=G=true"],
    )
    assert argv == [
        "/bin/kubelet",
        "--config=/w/kubelet-config.yaml",
        "--kubeconfig=/cp/admin.kubeconfig",
        "--root-dir=/w/kubelet",
        "--cert-dir=/w/kubelet/pki",
        "--hostname-override=vm",
        "--v=2",
        "--feature-gates=G=true",
    ]
