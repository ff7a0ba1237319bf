"""A real node on this machine for end-to-end tests: containerd + the kubelet, joined to a
:class:`~drafast.testing.controlplane.ControlPlane`.

::

    cp = ControlPlane.start(bin_dir, workdir / "cp")
    node = Node.start(cp, workdir / "node")
    try:
        node.registry_dir, node.plugins_dir, node.cdi_dir     # where a DRA plugin goes
        plugin = HostPlugin.start(node, ...)                   # drafast as a host process
        node.restart_kubelet()
        node.kubelet_metrics()                                 # the kubelet's /metrics
    finally:
        node.stop()
        cp.stop()

Everything the node writes lives under its work directory: containerd's root/state/socket, the
NRI socket, the CNI config, the CDI spec dir, runc's state, the kubelet's root dir (so its plugin
registry is ``<root>/plugins_registry`` and its plugin dir ``<root>/plugins``) and pod logs. What
the binaries do not let us move is undone by :meth:`Node.stop`: containerd's shims put their
sockets in ``/run/containerd/s``, the kubelet links container logs into ``/var/log/containers``,
its device manager listens on ``/var/lib/kubelet/device-plugins/kubelet.sock`` (hard-coded), and
it sets a few kernel tunables (``kernel.panic`` and friends), which are restored. Pod cgroups live
under a cgroup root of our own (``/drafast-node-<id>``), removed at the end; all mounts under the
work dir (the kubelet's root dir bind-mounted on itself, container rootfs overlays, sandbox
``/dev/shm`` tmpfs) are unmounted.

Machine facts handled here (see ``shared/reference/real-cluster.md`` section 5): cgroup v1
(``failCgroupV1: false``, ``cgroupDriver: cgroupfs``), no ``CAP_SYS_RESOURCE`` (containerd
``restrict_oom_score_adj = true``, kubelet ``oomScoreAdj: 0``), no registry (pause and test images
imported from OCI archives built by :mod:`drafast.testing.images`), no pod network (a loopback-only
CNI config; test pods use ``hostNetwork: true``).

The node's pieces come from ``tests/e2e/tools/node-bins.sh`` (``make node-bins``); the kubelet
from ``tests/e2e/tools/cluster-bins.sh``. Run by hand (``make cluster NODE=1``)::

    python -m drafast.testing.node
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from drafast.testing.bins import cache_root, default_bin_dir, missing_binaries
from drafast.testing.controlplane import (
    ApiError,
    ControlPlane,
    ControlPlaneError,
    _Component,
    _die_with_parent_prefix,
    _insecure_context,
    _probe,
    free_port,
)
from drafast.testing.images import PAUSE_IMAGE, TESTBOX_IMAGE

__all__ = [
    "NODE_BINARIES",
    "PAUSE_IMAGE",
    "TESTBOX_IMAGE",
    "HostPlugin",
    "Node",
    "NodeError",
    "default_node_bin_dir",
    "default_node_name",
    "main",
    "missing_node_binaries",
    "parse_metrics",
]

#: What ``node-bins.sh`` puts into ``<node bin dir>/bin`` (and ``cni/loopback``).
NODE_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "busybox")

#: Kernel tunables the kubelet's container manager sets (``setupKernelTunables``); restored.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)

#: The kubelet hard-codes this directory for its container-log symlinks.
CONTAINER_LOG_LINKS = Path("/var/log/containers")
#: The kubelet's device manager hard-codes its socket dir (not under --root-dir).
DEVICE_PLUGINS_DIR = Path("/var/lib/kubelet/device-plugins")
#: containerd's shims put their sockets here whatever the state dir is.
SHIM_SOCKET_DIR = Path("/run/containerd/s")
#: File name of our containerd socket: marks shims of dead earlier runs too.
CONTAINERD_SOCKET = "drafast-containerd.sock"
CGROUP_FS = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "drafast-node-"
#: In the work dir: what :func:`cleanup_stale_nodes` needs if our process dies hard.
HOST_STATE_FILE = "host-state.json"

MNT_DETACH = 2


class NodeError(ControlPlaneError):
    """containerd or the kubelet failed to start, or the node never became Ready."""


def default_node_bin_dir() -> Path:
    """``$DRAFAST_NODE_BIN`` or ``<cache>/node-bins/current`` (made by ``node-bins.sh``)."""
    env = os.environ.get("DRAFAST_NODE_BIN")
    return Path(env) if env else cache_root() / "node-bins" / "current"


def default_node_name() -> str:
    """``vm`` (the machine's name on the test machines), else this host's name, else
    ``localhost`` -- the first that resolves to a loopback address. The API server reaches the
    kubelet (logs, exec) by the Node's Hostname address, and the kubelet listens on 127.0.0.1."""
    for name in ("vm", socket.gethostname(), "localhost"):
        with contextlib.suppress(OSError):
            if socket.gethostbyname(name).startswith("127."):
                return name.lower()
    return "localhost"


def missing_node_binaries(node_bin_dir: Path) -> list[str]:
    """What ``node-bins.sh`` should have produced but is not there."""
    missing = [
        f"bin/{n}" for n in NODE_BINARIES if not os.access(node_bin_dir / "bin" / n, os.X_OK)
    ]
    if not os.access(node_bin_dir / "cni" / "loopback", os.X_OK):
        missing.append("cni/loopback")
    missing += [
        f"images/{n}"
        for n in ("pause.tar", "testbox.tar")
        if not (node_bin_dir / "images" / n).is_file()
    ]
    return missing


def _containerd_major(containerd: Path) -> int:
    out = subprocess.run(
        [str(containerd), "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    m = re.search(r"\sv?(\d+)\.(\d+)\.\d+", " " + out)
    if not m:
        raise NodeError(f"cannot tell the version of {containerd}: {out!r}")
    return int(m.group(1))


# --------------------------------------------------------------------------------------------------
# metrics


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text format -> sample name -> [(labels, value)] (comments skipped)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = {
            k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m[3] or "")
        }
        try:
            value = float(m[4])
        except ValueError:
            continue
        out.setdefault(m[1], []).append((labels, value))
    return out


# --------------------------------------------------------------------------------------------------
# low-level host cleanup (module functions: the finalizer must not hold the Node)


def _umount(path: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.umount2(path.encode(), 0) == 0:
        return
    if libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # not a mount point (any more)
            raise OSError(err, f"umount {path}: {os.strerror(err)}")


def _unescape_mountinfo(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (from /proc/self/mountinfo), deepest first."""
    prefix = str(root).rstrip("/") + "/"
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            parts = line.split(" ")
            if len(parts) > 4:
                mp = _unescape_mountinfo(parts[4])
                if mp == str(root) or mp.startswith(prefix):
                    found.append(mp)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def unmount_all_under(root: Path) -> list[str]:
    """Unmount everything below ``root`` (several passes: stacked mounts); return what's left."""
    if len(root.parts) < 3 or not root.is_absolute():
        raise ValueError(f"refusing to unmount everything under {root}")
    for _ in range(5):
        left = mounts_under(root)
        if not left:
            return []
        for mp in left:
            with contextlib.suppress(OSError):
                _umount(mp)
    return mounts_under(root)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _shims(address: str | None = None) -> list[tuple[int, dict[str, str]]]:
    """containerd shims (pid, their -namespace/-id/-address flags) of ``address``, or of any
    drafast node whose containerd socket is gone (a dead earlier run) when ``address`` is None."""
    found = []
    for pid in _pids():
        argv = _cmdline(pid)
        if not argv or "containerd-shim" not in Path(argv[0]).name:
            continue
        flags = {
            argv[i].lstrip("-"): argv[i + 1]
            for i in range(1, len(argv) - 1)
            if argv[i].startswith("-")
        }
        addr = flags.get("address", "")
        if address is not None:
            if addr == address:
                found.append((pid, flags))
        elif addr.endswith("/" + CONTAINERD_SOCKET) and not _socket_alive(Path(addr)):
            found.append((pid, flags))
    return found


def _shim_socket(flags: Mapping[str, str]) -> Path:
    """Where containerd's shim listens: ``/run/containerd/s/<sha256(address/ns/id)>``."""
    key = str(Path(flags.get("address", "/"), flags.get("namespace", ""), flags.get("id", "")))
    return SHIM_SOCKET_DIR / hashlib.sha256(key.encode()).hexdigest()


def _cgroup_dirs(name: str) -> list[Path]:
    """``/sys/fs/cgroup/<hierarchy>/<name>`` for every mounted hierarchy (v1 and unified).

    Only ever one of ours: anything else (an empty name!) would make the caller kill the host.
    """
    if not name.startswith(CGROUP_PREFIX) or "/" in name or len(name) <= len(CGROUP_PREFIX):
        return []
    out = []
    with contextlib.suppress(OSError):
        for h in sorted(CGROUP_FS.iterdir()):
            if (h / "cgroup.procs").exists():
                out.append(h / name)
    return out


def _cgroup_pids(dirs: Sequence[Path]) -> set[int]:
    pids: set[int] = set()
    for d in dirs:
        if not d.is_dir():
            continue
        for procs in d.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(x) for x in procs.read_text().split())
    return pids


def _kill_pids(pids: Sequence[int] | set[int]) -> None:
    for pid in pids:
        if pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _rmdir_tree(d: Path) -> None:
    """Remove a cgroup directory tree bottom-up (cgroup dirs go with rmdir only)."""
    if not d.is_dir():
        return
    subdirs = sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
    for p in [*subdirs, d]:
        with contextlib.suppress(OSError):
            p.rmdir()


@dataclass
class _HostState:
    """Everything :func:`_cleanup_host` needs; shared by the Node and its finalizer."""

    workdir: Path
    address: str
    cgroup_name: str
    sysctls: dict[str, str] = field(default_factory=dict)
    made_run_containerd: bool = False
    made_log_links_dir: bool = False
    components: list[_Component] = field(default_factory=list)
    done: bool = False


def _kill_node_processes(state: _HostState, deadline: float) -> None:
    """SIGKILL container processes (by cgroup) and our shims until none is left."""
    dirs = _cgroup_dirs(state.cgroup_name)
    while True:
        pids = _cgroup_pids(dirs)
        shims = _shims(state.address)
        if not pids and not shims:
            return
        _kill_pids(pids)
        _kill_pids({pid for pid, _ in shims})
        for pid, flags in shims:
            with contextlib.suppress(OSError):
                _shim_socket(flags).unlink(missing_ok=True)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)


def _cleanup_host(state: _HostState) -> list[str]:
    """Tear the node down; idempotent. Returns problems that could not be fixed."""
    if state.done:
        return []
    problems: list[str] = []
    deadline = time.monotonic() + 30
    # the kubelet first (it would restart what we kill), then pods and shims, then containerd
    for comp in reversed(state.components):
        if comp.name == "kubelet":
            with contextlib.suppress(Exception):
                comp.stop(timeout=10)
    _kill_node_processes(state, deadline)
    for comp in reversed(state.components):
        with contextlib.suppress(Exception):
            comp.stop(timeout=10)
    _kill_node_processes(state, deadline)  # a shim started during the shutdown
    left = unmount_all_under(state.workdir)
    if left:
        problems.append(f"mounts left under {state.workdir}: {left}")
    for d in _cgroup_dirs(state.cgroup_name):
        _rmdir_tree(d)
        if d.exists():
            problems.append(f"cgroup {d} could not be removed")
    for key, value in state.sysctls.items():
        with contextlib.suppress(OSError):
            Path("/proc/sys", key).write_text(value + "\n")
    with contextlib.suppress(OSError):
        for link in CONTAINER_LOG_LINKS.iterdir():
            if link.is_symlink() and str(link.readlink()).startswith(str(state.workdir) + "/"):
                link.unlink(missing_ok=True)
    if state.made_log_links_dir:
        with contextlib.suppress(OSError):
            CONTAINER_LOG_LINKS.rmdir()
    _remove_device_manager_socket()
    if state.made_run_containerd:
        with contextlib.suppress(OSError):
            SHIM_SOCKET_DIR.rmdir()
        with contextlib.suppress(OSError):
            SHIM_SOCKET_DIR.parent.rmdir()
    state.done = True
    return problems


def _socket_alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def _remove_device_manager_socket() -> None:
    """Remove what our kubelet's device manager left in /var/lib/kubelet/device-plugins (a
    dead ``kubelet.sock``, its checkpoint), then the dirs if nothing else is in them -- a real
    kubelet's /var/lib/kubelet holds much more, and its socket would answer."""
    sock = DEVICE_PLUGINS_DIR / "kubelet.sock"
    if sock.is_socket() and not _socket_alive(sock):
        with contextlib.suppress(OSError):
            sock.unlink()
            (DEVICE_PLUGINS_DIR / "kubelet_internal_checkpoint").unlink(missing_ok=True)
    for d in (DEVICE_PLUGINS_DIR, DEVICE_PLUGINS_DIR.parent):
        with contextlib.suppress(OSError):
            d.rmdir()  # only if empty


def _write_host_state(state: _HostState) -> None:
    """What a later run needs to clean up after us if this process dies hard."""
    data = {"address": state.address, "cgroup": state.cgroup_name, "sysctls": state.sysctls}
    (state.workdir / HOST_STATE_FILE).write_text(json.dumps(data) + "\n")


def _stale_state(workdir: Path) -> _HostState:
    state = _HostState(
        workdir=workdir,
        address=str(workdir / "run" / CONTAINERD_SOCKET),
        cgroup_name="",
        made_run_containerd=True,  # both only removed when empty
        made_log_links_dir=True,
    )
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads((workdir / HOST_STATE_FILE).read_text())
        state.address = str(data["address"])
        state.cgroup_name = str(data["cgroup"])
        state.sysctls = {str(k): str(v) for k, v in dict(data["sysctls"]).items()}
    return state


def _stale_workdirs() -> set[Path]:
    """Work dirs of drafast nodes whose containerd is dead but whose shims or mounts live on."""
    found = {
        wd
        for _, flags in _shims(None)
        if (wd := Path(flags["address"]).parent.parent).joinpath(HOST_STATE_FILE).is_file()
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            parts = line.split(" ")
            if len(parts) <= 4:
                continue
            mp = Path(_unescape_mountinfo(parts[4]))
            for cand in (mp, *mp.parents):
                if (cand / HOST_STATE_FILE).is_file():
                    if not _socket_alive(cand / "run" / CONTAINERD_SOCKET):
                        found.add(cand)
                    break
    return found


def cleanup_stale_nodes() -> list[Path]:
    """Clean up after drafast nodes whose Python process died hard (SIGKILL, OOM): their shims
    and containers, mounts, cgroups and kernel tunables. Returns their work dirs."""
    stale = sorted(_stale_workdirs())
    for workdir in stale:
        _cleanup_host(_stale_state(workdir))
    for pid, flags in _shims(None):  # shims of a run whose work dir is gone
        _kill_pids([pid])
        with contextlib.suppress(OSError):
            _shim_socket(flags).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        for h in CGROUP_FS.iterdir():
            for d in h.glob(CGROUP_PREFIX + "*"):
                if not _cgroup_pids([d]):
                    _rmdir_tree(d)
    return stale


# --------------------------------------------------------------------------------------------------
# configuration files


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


# --------------------------------------------------------------------------------------------------
# the node


def _now_ready(node: Mapping[str, Any]) -> tuple[bool, str]:
    conds = {c["type"]: c for c in node.get("status", {}).get("conditions") or []}
    ready = conds.get("Ready", {})
    taints = node.get("spec", {}).get("taints") or []
    ok = ready.get("status") == "True" and not taints
    return ok, f"Ready={ready.get('status')} ({ready.get('message', '')}); taints={taints}"


@dataclass
class Node:
    """containerd + kubelet v1.37 registered as one Node of a running control plane."""

    cp: ControlPlane
    workdir: Path
    name: str
    node_bin_dir: Path
    kubelet_bin: Path
    containerd_major: int
    kubelet_port: int
    healthz_port: int
    _state: _HostState
    _components: dict[str, _Component] = field(default_factory=dict)
    _kubelet_flags: list[str] = field(default_factory=list)

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        cp: ControlPlane,
        workdir: Path | str,
        *,
        name: str | None = None,
        node_bin_dir: Path | str | None = None,
        kubelet: Path | str | None = None,
        kubelet_verbosity: int = 2,
        timeout: float = 180.0,
    ) -> Node:
        """Start containerd and the kubelet, wait until Node ``name`` is Ready and untainted.

        On any failure nothing is left running and :class:`NodeError` says why.
        """
        if os.geteuid() != 0:
            raise NodeError("a real node needs root (containerd, runc, mounts, cgroups)")
        node_bin_dir = Path(node_bin_dir or default_node_bin_dir()).expanduser()
        missing = missing_node_binaries(node_bin_dir)
        if missing:
            raise NodeError(
                f"node binaries missing in {node_bin_dir}: {', '.join(missing)} "
                "-- run `make node-bins` (tests/e2e/tools/node-bins.sh)"
            )
        node_bin_dir = node_bin_dir.resolve()
        kubelet_bin = Path(kubelet) if kubelet else cp.bin_dir / "kubelet"
        if not os.access(kubelet_bin, os.X_OK):
            raise NodeError(
                f"no kubelet at {kubelet_bin} -- run `make cluster-bins` "
                "(tests/e2e/tools/cluster-bins.sh builds it with the control plane)"
            )
        workdir = Path(workdir).expanduser().resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        address = workdir / "run" / CONTAINERD_SOCKET
        # Unix socket paths: 107 bytes at most (room for "<driver>-reg.sock" in the registry)
        if len(str(workdir / "kubelet" / "plugins_registry")) > 75:
            raise NodeError(f"work dir {workdir} is too long for Unix socket paths")
        cleanup_stale_nodes()
        state = _HostState(
            workdir=workdir,
            address=str(address),
            cgroup_name=CGROUP_PREFIX + secrets.token_hex(4),
            made_run_containerd=not SHIM_SOCKET_DIR.parent.exists(),
            made_log_links_dir=not CONTAINER_LOG_LINKS.exists(),
        )
        ports: list[int] = []
        while len(ports) < 2:
            p = free_port()
            if p not in ports:
                ports.append(p)
        node = cls(
            cp=cp,
            workdir=workdir,
            name=name or default_node_name(),
            node_bin_dir=node_bin_dir,
            kubelet_bin=kubelet_bin,
            containerd_major=_containerd_major(node_bin_dir / "bin" / "containerd"),
            kubelet_port=ports[0],
            healthz_port=ports[1],
            _state=state,
        )
        weakref.finalize(node, _cleanup_host, state)
        try:
            node._prepare_dirs()
            node._save_sysctls()
            node._make_cgroup_root()
            node._start_containerd(timeout)
            _write_host_state(state)
            node._import_images()
            node._start_kubelet(kubelet_verbosity, timeout)
        except BaseException:
            node.stop()
            raise
        return node

    # -- public face -------------------------------------------------------------------------------

    @property
    def containerd_address(self) -> Path:
        return Path(self._state.address)

    @property
    def runtime_endpoint(self) -> str:
        return f"unix://{self._state.address}"

    @property
    def kubelet_root(self) -> Path:
        return self.workdir / "kubelet"

    @property
    def registry_dir(self) -> Path:
        """The kubelet's plugin registration dir (``--registry-dir`` of a DRA plugin)."""
        return self.kubelet_root / "plugins_registry"

    @property
    def plugins_dir(self) -> Path:
        """The kubelet's plugin data dir; a driver's own dir is ``plugins_dir / <driver>``."""
        return self.kubelet_root / "plugins"

    @property
    def cdi_dir(self) -> Path:
        """The CDI spec dir containerd reads (the node's ``/var/run/cdi``)."""
        return self.workdir / "cdi"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def pod_logs_dir(self) -> Path:
        return self.workdir / "pod-logs"

    @property
    def cgroup_root(self) -> str:
        return "/" + self._state.cgroup_name

    @property
    def kubelet_log(self) -> Path:
        return self.logs_dir / "kubelet.log"

    @property
    def containerd_log(self) -> Path:
        return self.logs_dir / "containerd.log"

    @property
    def kubelet_url(self) -> str:
        return f"https://127.0.0.1:{self.kubelet_port}"

    def running(self) -> dict[str, bool]:
        return {n: c.running() for n, c in self._components.items()}

    def check_alive(self) -> None:
        for c in self._components.values():
            if not c.running():
                raise NodeError(f"{c.name} is not running (log {c.log}):\n{c.tail()}")

    def kubelet_metrics(self, path: str = "/metrics") -> str:
        """The kubelet's ``/metrics`` (anonymous: the kubelet allows it in this setup)."""
        code, body = _probe(
            self.kubelet_url + path, token=self.cp.token, context=_insecure_context()
        )
        if code != 200:
            raise NodeError(f"kubelet {path}: HTTP {code}: {body[:500]}")
        return body

    def kubelet_metric(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Samples of one metric of the kubelet (e.g. ``dra_operations_duration_seconds_count``)."""
        return parse_metrics(self.kubelet_metrics()).get(name, [])

    def ctr(self, *args: str, timeout: float = 60.0, check: bool = True) -> str:
        """``ctr --address <ours> -n k8s.io ARGS`` -> stdout."""
        res = subprocess.run(
            [
                str(self.node_bin_dir / "bin" / "ctr"),
                "--address",
                self._state.address,
                "-n",
                "k8s.io",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and res.returncode != 0:
            raise NodeError(f"ctr {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res.stdout

    def stop_kubelet(self) -> None:
        self._components["kubelet"].stop(timeout=15)

    def start_kubelet(self, timeout: float = 120.0) -> None:
        comp = self._components["kubelet"]
        if not comp.running():
            comp.start()
        self._wait_kubelet(comp, timeout)

    def restart_kubelet(self, timeout: float = 120.0) -> None:
        """Stop the kubelet (pods keep running), start it again, wait until it is healthy and
        the Node reports Ready (from a heartbeat of the new process)."""
        before = self._ready_heartbeat()
        self.stop_kubelet()
        comp = self._components["kubelet"]
        comp.start()
        self._wait_kubelet(comp, timeout, newer_than=before)

    def stop(self) -> None:
        """Tear everything down (idempotent); raise :class:`NodeError` if something stayed."""
        problems = _cleanup_host(self._state)
        if problems:
            raise NodeError("node teardown incomplete: " + "; ".join(problems))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------------

    def _add(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> _Component:
        comp = _NodeComponent(name=name, argv=argv, log=self.logs_dir / f"{name}.log", env=env)
        self._components[name] = comp
        self._state.components.append(comp)
        return comp

    def _prepare_dirs(self) -> None:
        w = self.workdir
        for sub in (
            "run",
            "logs",
            "cdi",
            "containerd/root",
            "containerd/state",
            "containerd/opt",
            "runc",
            "nri/plugins",
            "nri/conf.d",
            "cni/net.d",
            "kubelet",
            "pod-logs",
            "volume-plugins",
        ):
            (w / sub).mkdir(parents=True, exist_ok=True)
        (w / "cni/net.d/10-drafast-lo.conflist").write_text(json.dumps(LOOPBACK_CNI) + "\n")

    def _save_sysctls(self) -> None:
        for key in KUBELET_SYSCTLS:
            with contextlib.suppress(OSError):
                self._state.sysctls[key] = Path("/proc/sys", key).read_text().strip()

    def _make_cgroup_root(self) -> None:
        """The kubelet wants ``cgroupRoot`` to exist in every hierarchy (cpuset: populated)."""
        for d in _cgroup_dirs(self._state.cgroup_name):
            d.mkdir(exist_ok=True)
            if d.parent.name == "cpuset":
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with contextlib.suppress(OSError):
                        (d / f).write_text((d.parent / f).read_text())

    def _start_containerd(self, timeout: float) -> None:
        w = self.workdir
        bins = self.node_bin_dir / "bin"
        cfg = containerd_config(
            self.containerd_major,
            root=w / "containerd/root",
            state=w / "containerd/state",
            address=self.containerd_address,
            runc=bins / "runc",
            runc_root=w / "runc",
            cni_bin=self.node_bin_dir / "cni",
            cni_conf=w / "cni/net.d",
            cdi_dirs=[self.cdi_dir],
            nri_dir=w / "nri",
            opt_dir=w / "containerd/opt",
        )
        (w / "containerd/config.toml").write_text(cfg)
        env = {**os.environ, "PATH": f"{bins}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        env.pop("NOTIFY_SOCKET", None)
        comp = self._add(
            "containerd",
            [str(bins / "containerd"), "--config", str(w / "containerd/config.toml")],
            env=env,
        )
        comp.start()
        deadline = time.monotonic() + timeout
        while True:
            if not comp.running():
                raise NodeError(f"containerd exited (log {comp.log}):\n{comp.tail()}")
            if self.containerd_address.exists():
                res = subprocess.run(
                    [str(bins / "ctr"), "--address", self._state.address, "version"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )
                if res.returncode == 0:
                    return
            if time.monotonic() > deadline:
                raise NodeError(f"containerd not answering after {timeout:.0f}s:\n{comp.tail()}")
            time.sleep(0.1)

    def _import_images(self) -> None:
        for archive in ("pause.tar", "testbox.tar"):
            self.ctr("images", "import", str(self.node_bin_dir / "images" / archive), timeout=120)
        listed = self.ctr("images", "ls", "-q")
        for ref in (PAUSE_IMAGE, TESTBOX_IMAGE):
            if ref not in listed.split():
                raise NodeError(f"image {ref} not in containerd after the import:\n{listed}")

    def _start_kubelet(self, verbosity: int, timeout: float) -> None:
        w = self.workdir
        # containerd 2.x answers RuntimeConfig with its cgroup driver; 1.7 cannot and the kubelet
        # falls back to this setting (cgroupfs: no systemd on these machines either way)
        cfg = kubelet_config(
            port=self.kubelet_port,
            healthz_port=self.healthz_port,
            runtime_endpoint=self.runtime_endpoint,
            cgroup_root=self.cgroup_root,
            pod_logs_dir=self.pod_logs_dir,
            volume_plugin_dir=w / "volume-plugins",
        )
        (w / "kubelet-config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        self._kubelet_flags = [
            str(self.kubelet_bin),
            f"--config={w / 'kubelet-config.yaml'}",
            f"--kubeconfig={self.cp.kubeconfig}",
            f"--root-dir={self.kubelet_root}",
            f"--cert-dir={self.kubelet_root / 'pki'}",
            f"--hostname-override={self.name}",
            f"--v={verbosity}",
            *self.cp.component_flags(),
        ]
        comp = self._add("kubelet", self._kubelet_flags)
        comp.start()
        self._wait_kubelet(comp, timeout)

    def _ready_heartbeat(self) -> str:
        with contextlib.suppress(ApiError, OSError):
            node = self.cp.api.get(f"/api/v1/nodes/{self.name}")
            for c in node.get("status", {}).get("conditions") or []:
                if c["type"] == "Ready":
                    return str(c.get("lastHeartbeatTime", ""))
        return ""

    def _wait_kubelet(self, comp: _Component, timeout: float, newer_than: str = "") -> None:
        deadline = time.monotonic() + timeout
        healthz = f"http://127.0.0.1:{self.healthz_port}/healthz"
        detail = "kubelet /healthz not answering"
        while True:
            if not comp.running():
                raise NodeError(f"kubelet exited while starting (log {comp.log}):\n{comp.tail(60)}")
            code, body = _probe(healthz)
            if code == 200:
                try:
                    node = self.cp.api.get(f"/api/v1/nodes/{self.name}")
                except ApiError as e:
                    detail = f"Node {self.name}: {e}"
                else:
                    ok, detail = _now_ready(node)
                    beat = self._ready_heartbeat()
                    if ok and (not newer_than or beat > newer_than):
                        return
            else:
                detail = f"kubelet /healthz: {code} {body[:200]}"
            if time.monotonic() > deadline:
                raise NodeError(
                    f"Node {self.name} not Ready after {timeout:.0f}s ({detail}); "
                    f"kubelet log {comp.log}:\n{comp.tail(60)}"
                )
            time.sleep(0.25)


@dataclass
class _NodeComponent(_Component):
    """A :class:`_Component` with its own environment."""

    env: Mapping[str, str] | None = None

    def start(self) -> None:
        if self.env is None:
            super().start()
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n==> starting {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [*_die_with_parent_prefix(), *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=dict(self.env),
            )
        self.pgid = self.proc.pid


# --------------------------------------------------------------------------------------------------
# drafast on the node, as a host process


@dataclass
class HostPlugin:
    """A drafast kubelet plugin run as a host process against a :class:`Node`.

    ``argv`` is the command without the node-specific flags; :meth:`start` adds ``--node-name``,
    ``--registry-dir``, ``--plugin-dir``, ``--cdi-dir``, ``--cluster kube``, ``--kubeconfig`` and
    ``--bind-address`` (for ``/readyz`` and ``/metrics``).
    """

    node: Node
    driver_name: str
    argv: list[str]
    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _proc_box: list[subprocess.Popen[bytes]] = field(default_factory=list)
    """The live process, for the finalizer (which must not hold the HostPlugin)."""

    @classmethod
    def start(
        cls,
        node: Node,
        workdir: Path,
        *,
        driver: str = "file",
        driver_name: str = "file.drafast.dev",
        argv: Sequence[str] | None = None,
        extra: Sequence[str] = (),
        wait_registered: float = 60.0,
    ) -> HostPlugin:
        """Start ``python -m drafast run <driver>`` (or ``argv``) and wait until the kubelet
        registered it (our ``/readyz``: NotifyRegistrationStatus(true) seen + slices published)."""
        base = list(argv) if argv is not None else [sys.executable, "-m", "drafast", "run", driver]
        plugin = cls(
            node=node,
            driver_name=driver_name,
            argv=[*base, "--driver-name", driver_name, *extra],
            workdir=workdir,
            port=free_port(),
        )
        weakref.finalize(plugin, _kill_proc, plugin._proc_box)
        plugin.launch()
        if wait_registered:
            try:
                plugin.wait_ready(wait_registered)
            except BaseException:
                plugin.stop(signal.SIGKILL)
                raise
        return plugin

    @property
    def plugin_dir(self) -> Path:
        return self.node.plugins_dir / self.driver_name

    @property
    def registration_socket(self) -> Path:
        return self.node.registry_dir / f"{self.driver_name}-reg.sock"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.driver_name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        n = self.node
        return [
            *self.argv,
            "--node-name",
            n.name,
            "--registry-dir",
            str(n.registry_dir),
            "--plugin-dir",
            str(self.plugin_dir),
            "--cdi-dir",
            str(n.cdi_dir),
            "--cluster",
            "kube",
            "--kubeconfig",
            str(n.cp.kubeconfig),
            "--bind-address",
            f"127.0.0.1:{self.port}",
        ]

    def launch(self) -> None:
        """Start the process (no waiting)."""
        if self.running():
            raise RuntimeError(f"{self.driver_name} plugin already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n==> starting {' '.join(self.command())}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [*_die_with_parent_prefix(), *self.command()],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._proc_box[:] = [self.proc]
        self.starts += 1

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> tuple[bool, str]:
        code, body = _probe(self.url + "/readyz")
        return code == 200, body.strip()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until ``/readyz`` says ok: registered by the kubelet and slices published."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise NodeError(f"{self.driver_name} plugin exited:\n{self.tail()}")
            ok, detail = self.ready()
            if ok:
                return
            if time.monotonic() > deadline:
                raise NodeError(
                    f"{self.driver_name} plugin not ready after {timeout:.0f}s ({detail}):\n"
                    f"{self.tail()}"
                )
            time.sleep(0.1)

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        code, body = _probe(self.url + "/metrics")
        if code != 200:
            raise NodeError(f"{self.driver_name} /metrics: HTTP {code}: {body[:300]}")
        return parse_metrics(body)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Send ``sig`` (SIGTERM: clean shutdown; SIGKILL: a crash); return the exit code."""
        if self.proc is None:
            return None
        proc = self.proc
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait(10)
        self.proc = None
        self._proc_box.clear()
        return code

    def restart(self, sig: signal.Signals = signal.SIGTERM, wait_registered: float = 60.0) -> None:
        self.stop(sig)
        self.launch()
        if wait_registered:
            self.wait_ready(wait_registered)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _kill_proc(box: list[subprocess.Popen[bytes]]) -> None:
    for proc in box:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(10)


# --------------------------------------------------------------------------------------------------
# context managers


@contextlib.contextmanager
def running_node(cp: ControlPlane, workdir: Path | str, **kwargs: Any) -> Iterator[Node]:
    """``with running_node(cp, dir) as node:`` -- stopped (and checked clean) afterwards."""
    node = Node.start(cp, workdir, **kwargs)
    try:
        yield node
    finally:
        node.stop()


def wait_until(
    what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2
) -> Any:
    """Poll ``check`` until it returns something truthy; raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# --------------------------------------------------------------------------------------------------
# pods on the test node


#: A container command that ignores nothing: exits at SIGTERM at once (sh as PID 1 would not).
SLEEP_FOREVER = "trap 'exit 0' TERM; sleep 3600 & wait"


def pod_manifest(
    name: str,
    *,
    namespace: str,
    claims: Mapping[str, Mapping[str, str]] = {},
    script: str = SLEEP_FOREVER,
    env: Mapping[str, str] = {},
    node_name: str | None = None,
    image: str = TESTBOX_IMAGE,
) -> dict[str, Any]:
    """A test pod: host network, the imported busybox image (never pulled), one container
    running ``sh -c script`` with every claim in ``claims``.

    ``claims`` maps the pod's claim name to ``{"resourceClaimTemplateName": ...}`` or
    ``{"resourceClaimName": ...}``.
    """
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if claims:
        container["resources"] = {"claims": [{"name": c} for c in claims]}
    spec: dict[str, Any] = {
        "hostNetwork": True,
        "dnsPolicy": "Default",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "containers": [container],
    }
    if claims:
        spec["resourceClaims"] = [{"name": c, **src} for c, src in claims.items()]
    if node_name:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node_name}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def pod_running(pod: Mapping[str, Any]) -> bool:
    """Phase Running and every container running and ready."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    cs = status.get("containerStatuses") or []
    return bool(cs) and all(c.get("ready") and "running" in (c.get("state") or {}) for c in cs)


def _pod_problem(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    out = [f"phase={status.get('phase')}"]
    for c in status.get("conditions") or []:
        if c.get("status") != "True":
            out.append(f"{c['type']}: {c.get('reason', '')} {c.get('message', '')}".strip())
    for cs in status.get("containerStatuses") or []:
        for state, detail in (cs.get("state") or {}).items():
            out.append(f"container {cs['name']} {state} {detail.get('reason', '')}")
    return "; ".join(out)


def wait_pods_running(
    cp: ControlPlane, namespace: str, names: Sequence[str], timeout: float = 90.0
) -> dict[str, dict[str, Any]]:
    """Until every pod in ``names`` runs; their objects. On timeout: an AssertionError with each
    pod's status and its recent events (FailedPrepareDynamicResources & co)."""
    deadline = time.monotonic() + timeout
    pods: dict[str, dict[str, Any]] = {}
    while True:
        for n in names:
            with contextlib.suppress(ApiError):
                pods[n] = cp.api.get(f"/api/v1/namespaces/{namespace}/pods/{n}")
        if all(n in pods and pod_running(pods[n]) for n in names):
            return pods
        if time.monotonic() > deadline:
            lines = [f"{n}: {_pod_problem(pods.get(n, {}))}" for n in names]
            events = cp.api.get(f"/api/v1/namespaces/{namespace}/events")["items"]
            lines += [
                f"event {e['involvedObject'].get('name')}: {e.get('reason')}: {e.get('message')}"
                for e in events[-15:]
            ]
            raise AssertionError(f"pods not running after {timeout:.0f}s:\n" + "\n".join(lines))
        time.sleep(0.2)


def delete_pods(
    cp: ControlPlane,
    namespace: str,
    names: Sequence[str],
    *,
    wait: bool = True,
    grace_seconds: int | None = None,
    timeout: float = 90.0,
) -> None:
    """Delete the pods (gracefully by default) and wait until the kubelet has finished them:
    the API object only goes once the kubelet confirmed termination, which for a pod with
    claims includes a successful NodeUnprepareResources."""
    for n in names:
        with contextlib.suppress(ApiError):
            cp.api.delete(f"/api/v1/namespaces/{namespace}/pods/{n}", grace_seconds=grace_seconds)
    if not wait:
        return
    deadline = time.monotonic() + timeout
    left = list(names)
    while left:
        still = []
        for n in left:
            try:
                cp.api.get(f"/api/v1/namespaces/{namespace}/pods/{n}")
                still.append(n)
            except ApiError as e:
                if e.status != 404:
                    raise
        left = still
        if left and time.monotonic() > deadline:
            raise AssertionError(f"pods {left} still there {timeout:.0f}s after deletion")
        if left:
            time.sleep(0.2)


# --------------------------------------------------------------------------------------------------
# CLI: make cluster NODE=1


DEMO_FILES = ("greeting", "notes")
FILE_DEVICE_CLASS = {
    "apiVersion": "resource.k8s.io/v1",
    "kind": "DeviceClass",
    "metadata": {"name": "file.drafast.dev"},
    "spec": {"selectors": [{"cel": {"expression": 'device.driver == "file.drafast.dev"'}}]},
}


def _start_all(
    args: argparse.Namespace, bin_dir: Path, workdir: Path, stack: contextlib.ExitStack
) -> tuple[ControlPlane, Node, HostPlugin | None]:
    print(f"==> starting a control plane from {bin_dir} in {workdir / 'cp'}", flush=True)
    cp = ControlPlane.start(bin_dir, workdir / "cp")
    stack.callback(cp.stop)
    print(f"==> starting containerd + kubelet in {workdir / 'node'}", flush=True)
    node = Node.start(cp, workdir / "node", name=args.node_name, node_bin_dir=args.node_bin_dir)
    stack.callback(node.stop)
    if args.no_drafast:
        return cp, node, None
    files = workdir / "files"
    files.mkdir(parents=True, exist_ok=True)
    for f in DEMO_FILES:
        (files / f).touch()
    cp.kubectl("apply", "-f", "-", input=json.dumps(FILE_DEVICE_CLASS))
    print("==> starting drafast (file driver) as a host process", flush=True)
    plugin = HostPlugin.start(node, workdir / "drafast", extra=["--resource-dir", str(files)])
    stack.callback(plugin.stop)
    return cp, node, plugin


def _summary(cp: ControlPlane, node: Node, plugin: HostPlugin | None, workdir: Path) -> None:
    print(f"==> node {node.name} Ready; kubelet {node.kubelet_url}", flush=True)
    print(f"kubeconfig:      {cp.kubeconfig}")
    print(f"logs:            {cp.logs_dir} {node.logs_dir}")
    print(f"kubelet root:    {node.kubelet_root}")
    print(f"CDI spec dir:    {node.cdi_dir}")
    print(f"test image:      {TESTBOX_IMAGE} (imagePullPolicy: Never, hostNetwork: true)")
    if plugin is not None:
        print(
            f"drafast:         file.drafast.dev (DeviceClass applied), files in "
            f"{workdir / 'files'}, log {plugin.log}, metrics {plugin.url}/metrics"
        )
    print(f"export KUBECONFIG={cp.kubeconfig}")
    print("==> press Ctrl-C to stop", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drafast.testing.node",
        description="Run a control plane + a real node (containerd + kubelet) with drafast's "
        "file driver registered, until Ctrl-C.",
    )
    parser.add_argument("--bin-dir", type=Path, default=None, help="Kubernetes binaries")
    parser.add_argument("--node-bin-dir", type=Path, default=None, help="node-bins.sh output")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="state dir (default: a new temp dir)"
    )
    parser.add_argument("--node-name", default=None, help="default: see default_node_name()")
    parser.add_argument("--no-drafast", action="store_true", help="do not start the file driver")
    args = parser.parse_args(argv)
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="drafast-cluster-"))

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    bin_dir = args.bin_dir or default_bin_dir()
    missing = missing_binaries(bin_dir, ("etcd", "kube-apiserver", "kubectl", "kubelet"))
    if missing:
        print(f"error: missing in {bin_dir}: {', '.join(missing)} (make cluster-bins)")
        return 1
    with contextlib.ExitStack() as stack:
        try:
            cp, node, plugin = _start_all(args, bin_dir, workdir, stack)
        except (ControlPlaneError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        try:
            _summary(cp, node, plugin, workdir)
            while True:
                time.sleep(1)
                for name, alive in {**cp.running(), **node.running()}.items():
                    if not alive:
                        print(f"error: {name} exited", file=sys.stderr)
                        return 1
                if plugin is not None and not plugin.running():
                    print(f"error: drafast exited; see {plugin.log}", file=sys.stderr)
                    return 1
        except KeyboardInterrupt:
            print("\n==> stopping", flush=True)
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
