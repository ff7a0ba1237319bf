"""What a test node does to this machine outside its work directory, and undoing it.

containerd's shims put their sockets in ``/run/containerd/s`` whatever the state dir is, the
kubelet links container logs into ``/var/log/containers``, its device manager listens on
``/var/lib/kubelet/device-plugins/kubelet.sock`` (hard-coded), and it sets a few kernel tunables
(``kernel.panic`` and friends). Pod cgroups live under a cgroup root of our own. All of it is
recorded in a :class:`HostState` -- in memory for :func:`cleanup_host`, and in the work dir for
:func:`cleanup_stale_nodes` after a run whose Python process died hard.

Module functions, not methods: the node's finalizer must not hold the node.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drafast.testing.cluster.hostfs import (
    CGROUP_FS,
    CGROUP_PREFIX,
    cgroup_dirs,
    cgroup_pids,
    mount_point_paths,
    remove_cgroup_tree,
    unmount_all_under,
)
from drafast.testing.cluster.processes import Component

__all__ = [
    "CONTAINERD_SOCKET",
    "CONTAINER_LOG_LINKS",
    "DEVICE_PLUGINS_DIR",
    "HOST_STATE_FILE",
    "KUBELET_SYSCTLS",
    "SHIM_SOCKET_DIR",
    "HostState",
    "cleanup_host",
    "cleanup_stale_nodes",
    "make_cgroup_root",
    "save_sysctls",
    "socket_alive",
    "write_host_state",
]

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
#: In the work dir: what :func:`cleanup_stale_nodes` needs if our process dies hard.
HOST_STATE_FILE = "host-state.json"


@dataclass
class HostState:
    """Everything :func:`cleanup_host` needs; shared by the Node and its finalizer."""

    workdir: Path
    address: str
    """containerd's socket."""
    cgroup_name: str
    sysctls: dict[str, str] = field(default_factory=dict)
    """Saved values of :data:`KUBELET_SYSCTLS`, put back at the end."""
    made_run_containerd: bool = False
    made_log_links_dir: bool = False
    components: list[Component] = field(default_factory=list)
    done: bool = False

    @classmethod
    def new(cls, workdir: Path) -> HostState:
        """A fresh node's state: containerd at ``<workdir>/run/<CONTAINERD_SOCKET>``, a new
        cgroup name, and which shared host dirs do not exist yet (so we may remove them)."""
        return cls(
            workdir=workdir,
            address=str(workdir / "run" / CONTAINERD_SOCKET),
            cgroup_name=CGROUP_PREFIX + secrets.token_hex(4),
            made_run_containerd=not SHIM_SOCKET_DIR.parent.exists(),
            made_log_links_dir=not CONTAINER_LOG_LINKS.exists(),
        )


# -- setup -----------------------------------------------------------------------------------------


def save_sysctls(state: HostState) -> None:
    """Remember the tunables the kubelet will change."""
    for key in KUBELET_SYSCTLS:
        with contextlib.suppress(OSError):
            state.sysctls[key] = Path("/proc/sys", key).read_text().strip()


def make_cgroup_root(state: HostState) -> None:
    """The kubelet wants ``cgroupRoot`` to exist in every hierarchy (cpuset: populated)."""
    for d in cgroup_dirs(state.cgroup_name):
        d.mkdir(exist_ok=True)
        if d.parent.name == "cpuset":
            for f in ("cpuset.cpus", "cpuset.mems"):
                with contextlib.suppress(OSError):
                    (d / f).write_text((d.parent / f).read_text())


def write_host_state(state: HostState) -> None:
    """What a later run needs to clean up after us if this process dies hard."""
    data = {"address": state.address, "cgroup": state.cgroup_name, "sysctls": state.sysctls}
    (state.workdir / HOST_STATE_FILE).write_text(json.dumps(data) + "\n")


# -- processes -------------------------------------------------------------------------------------


def socket_alive(path: Path) -> bool:
    """Something accepts connections on the Unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


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
        elif addr.endswith("/" + CONTAINERD_SOCKET) and not socket_alive(Path(addr)):
            found.append((pid, flags))
    return found


def _shim_socket(flags: Mapping[str, str]) -> Path:
    """Where containerd's shim listens: ``/run/containerd/s/<sha256(address/ns/id)>``."""
    key = str(Path(flags.get("address", "/"), flags.get("namespace", ""), flags.get("id", "")))
    return SHIM_SOCKET_DIR / hashlib.sha256(key.encode()).hexdigest()


def _kill_pids(pids: Sequence[int] | set[int]) -> None:
    for pid in pids:
        if pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _kill_node_processes(state: HostState, deadline: float) -> None:
    """SIGKILL container processes (by cgroup) and our shims until none is left."""
    dirs = cgroup_dirs(state.cgroup_name)
    while True:
        pids = cgroup_pids(dirs)
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


# -- teardown --------------------------------------------------------------------------------------


def cleanup_host(state: HostState) -> list[str]:
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
    for d in cgroup_dirs(state.cgroup_name):
        remove_cgroup_tree(d)
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


def _remove_device_manager_socket() -> None:
    """Remove what our kubelet's device manager left in /var/lib/kubelet/device-plugins (a
    dead ``kubelet.sock``, its checkpoint), then the dirs if nothing else is in them -- a real
    kubelet's /var/lib/kubelet holds much more, and its socket would answer."""
    sock = DEVICE_PLUGINS_DIR / "kubelet.sock"
    if sock.is_socket() and not socket_alive(sock):
        with contextlib.suppress(OSError):
            sock.unlink()
            (DEVICE_PLUGINS_DIR / "kubelet_internal_checkpoint").unlink(missing_ok=True)
    for d in (DEVICE_PLUGINS_DIR, DEVICE_PLUGINS_DIR.parent):
        with contextlib.suppress(OSError):
            d.rmdir()  # only if empty


def _stale_state(workdir: Path) -> HostState:
    state = HostState(
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
        for mount_point in mount_point_paths():
            mp = Path(mount_point)
            for cand in (mp, *mp.parents):
                if (cand / HOST_STATE_FILE).is_file():
                    if not socket_alive(cand / "run" / CONTAINERD_SOCKET):
                        found.add(cand)
                    break
    return found


def cleanup_stale_nodes() -> list[Path]:
    """Clean up after drafast nodes whose Python process died hard (SIGKILL, OOM): their shims
    and containers, mounts, cgroups and kernel tunables. Returns their work dirs."""
    stale = sorted(_stale_workdirs())
    for workdir in stale:
        cleanup_host(_stale_state(workdir))
    for pid, flags in _shims(None):  # shims of a run whose work dir is gone
        _kill_pids([pid])
        with contextlib.suppress(OSError):
            _shim_socket(flags).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        for h in CGROUP_FS.iterdir():
            for d in h.glob(CGROUP_PREFIX + "*"):
                if not cgroup_pids([d]):
                    remove_cgroup_tree(d)
    return stale
