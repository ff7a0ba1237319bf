"""Configuration files and command lines of a test node: containerd's config.toml, the
loopback-only CNI config, the KubeletConfiguration and the kubelet's flags.

Pure rendering: :class:`~drafast.testing.cluster.node.Node` decides where everything goes. The
machine facts behind the settings (cgroup v1, no ``CAP_SYS_RESOURCE``, no registry, no pod
network) are explained where they are used.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drafast.testing.cluster.errors import NodeError
from drafast.testing.images import PAUSE_IMAGE

__all__ = [
    "DISABLED_PLUGINS",
    "LOOPBACK_CNI",
    "containerd_config",
    "containerd_major_version",
    "kubelet_argv",
    "kubelet_config",
]


def containerd_major_version(containerd: Path) -> int:
    """The major version of a containerd binary (1.7 and 2.x need different configs)."""
    out = subprocess.run(
        [str(containerd), "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    m = re.search(r"\sv?(\d+)\.(\d+)\.\d+", " " + out)
    if not m:
        raise NodeError(f"cannot tell the version of {containerd}: {out!r}")
    return int(m.group(1))


#: Snapshotters that cannot work here anyway (they only log errors at every start).
DISABLED_PLUGINS = (
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
)


def containerd_config(
    major: int,
    *,
    root: Path,
    state: Path,
    address: Path,
    runc: Path,
    runc_root: Path,
    cni_bin: Path,
    cni_conf: Path,
    cdi_dirs: Sequence[Path],
    nri_dir: Path,
    opt_dir: Path,
) -> str:
    """containerd's config.toml: version 2 for containerd 1.7, version 3 for 2.x."""

    def q(value: object) -> str:
        return json.dumps(str(value))

    def qs(values: Sequence[object]) -> str:
        return "[" + ", ".join(q(v) for v in values) + "]"

    head = f"""root = {q(root)}
state = {q(state)}
oom_score = 0
disabled_plugins = {qs(DISABLED_PLUGINS)}

[grpc]
  address = {q(address)}

[ttrpc]
  address = ""

[debug]
  level = "info"
"""
    runc_opts = f"""BinaryName = {q(runc)}
      Root = {q(runc_root)}
      SystemdCgroup = false"""
    nri = f"""disable = false
    socket_path = {q(nri_dir / "nri.sock")}
    plugin_path = {q(nri_dir / "plugins")}
    plugin_config_path = {q(nri_dir / "conf.d")}"""
    if major >= 2:
        return f"""version = 3
{head}
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = {q(PAUSE_IMAGE)}

[plugins."io.containerd.cri.v1.runtime"]
  enable_cdi = true
  cdi_spec_dirs = {qs(cdi_dirs)}
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
      {runc_opts}
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = {qs([cni_bin])}
    conf_dir = {q(cni_conf)}

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.internal.v1.opt"]
  path = {q(opt_dir)}

[plugins."io.containerd.nri.v1.nri"]
    {nri}
"""
    return f"""version = 2
{head}
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {q(PAUSE_IMAGE)}
  enable_cdi = true
  cdi_spec_dirs = {qs(cdi_dirs)}
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      {runc_opts}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {q(cni_bin)}
    conf_dir = {q(cni_conf)}

[plugins."io.containerd.internal.v1.opt"]
  path = {q(opt_dir)}

[plugins."io.containerd.nri.v1.nri"]
    {nri}
"""


LOOPBACK_CNI = {"cniVersion": "1.0.0", "name": "drafast-lo", "plugins": [{"type": "loopback"}]}


def kubelet_config(
    *,
    port: int,
    healthz_port: int,
    runtime_endpoint: str,
    cgroup_root: str,
    pod_logs_dir: Path,
    volume_plugin_dir: Path,
    cgroup_driver: str = "cgroupfs",
) -> dict[str, Any]:
    """The KubeletConfiguration of the test node (feature gates go on the command line)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        # anonymous + AlwaysAllow: the API server (no client cert) reaches logs/exec, and the
        # tests read /metrics without a token
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": runtime_endpoint,
        "imageServiceEndpoint": runtime_endpoint,
        # cgroup v1 host: kubelet >= 1.35 refuses it unless told otherwise
        "failCgroupV1": False,
        # containerd 1.7 cannot report its cgroup driver (no RuntimeConfig RPC); 2.x says cgroupfs
        "cgroupDriver": cgroup_driver,
        "cgroupRoot": cgroup_root,
        "cgroupsPerQOS": True,
        "failSwapOn": False,
        # no CAP_SYS_RESOURCE on these machines: a negative oom_score_adj is refused
        "oomScoreAdj": 0,
        "podLogsDir": str(pod_logs_dir),
        "volumePluginDir": str(volume_plugin_dir),
        "resolvConf": "/etc/resolv.conf",
        "staticPodPath": "",
        # never garbage-collect the imported images (they cannot be pulled again)
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "imageMinimumGCAge": "24h",
        "evictionHard": {
            "memory.available": "50Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "evictionPressureTransitionPeriod": "5s",
        "serializeImagePulls": False,
        "syncFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "maxPods": 110,
        "shutdownGracePeriod": "0s",
        "containerLogMaxFiles": 2,
        "containerLogMaxSize": "1Mi",
    }


def kubelet_argv(
    kubelet: Path,
    *,
    config: Path,
    kubeconfig: Path,
    root_dir: Path,
    node_name: str,
    verbosity: int,
    component_flags: Sequence[str],
) -> list[str]:
    """The kubelet's command line: everything else is in its ``config`` file, except the feature
    gates (``component_flags``: the control plane's, so both sides agree)."""
    return [
        str(kubelet),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={root_dir}",
        f"--cert-dir={root_dir / 'pki'}",
        f"--hostname-override={node_name}",
        f"--v={verbosity}",
        *component_flags,
    ]
