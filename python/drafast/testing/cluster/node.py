"""A real node on this machine for end-to-end tests: containerd + the kubelet, joined to a
:class:`~drafast.testing.cluster.controlplane.ControlPlane`.

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
the binaries do not let us move (:mod:`~drafast.testing.cluster.nodehost`) is undone by
:meth:`Node.stop`; all mounts under the work dir (the kubelet's root dir bind-mounted on itself,
container rootfs overlays, sandbox ``/dev/shm`` tmpfs) are unmounted.

Machine facts handled here (see ``shared/reference/real-cluster.md`` section 5): cgroup v1
(``failCgroupV1: false``, ``cgroupDriver: cgroupfs``), no ``CAP_SYS_RESOURCE`` (containerd
``restrict_oom_score_adj = true``, kubelet ``oomScoreAdj: 0``), no registry (pause and test images
imported from OCI archives built by ``tools/oci_image.py``), no pod network (a loopback-only
CNI config; test pods use ``hostNetwork: true``).

The node's pieces come from ``tests/e2e/tools/node-bins.sh`` (``make node-bins``); the kubelet
from ``tests/e2e/tools/cluster-bins.sh``. Run by hand (``make cluster NODE=1``; see
:func:`drafast.testing.cluster.cli.node_main`)::

    python -m drafast.testing.cluster.node
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from drafast.testing.cluster.apiclient import ApiError
from drafast.testing.cluster.controlplane import ControlPlane
from drafast.testing.cluster.errors import NodeError
from drafast.testing.cluster.nodebins import (
    default_node_bin_dir,
    default_node_name,
    missing_node_binaries,
)
from drafast.testing.cluster.nodeconfig import (
    LOOPBACK_CNI,
    containerd_config,
    containerd_major_version,
    kubelet_argv,
    kubelet_config,
)
from drafast.testing.cluster.nodehost import (
    HostState,
    cleanup_host,
    cleanup_stale_nodes,
    make_cgroup_root,
    save_sysctls,
    write_host_state,
)
from drafast.testing.cluster.probes import insecure_context, parse_metrics, probe
from drafast.testing.cluster.processes import Component, free_ports
from drafast.testing.images import PAUSE_IMAGE, TESTBOX_IMAGE

__all__ = ["Node", "running_node"]

#: The directories of a node's work dir, made before anything starts.
_WORKDIR_LAYOUT = (
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
)


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
    _state: HostState
    _components: dict[str, Component] = field(default_factory=dict)
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
        # Unix socket paths: 107 bytes at most; leave room for the longest registration socket
        # name of a plugin pod's rolling update, "dra-<22 chars>-reg.sock" (36 bytes)
        if len(os.fsencode(workdir / "kubelet" / "plugins_registry")) > 107 - 37:
            raise NodeError(
                f"work dir {workdir} is too long for the plugins' Unix socket paths"
                " (its kubelet/plugins_registry may have 70 bytes)"
            )
        cleanup_stale_nodes()
        state = HostState.new(workdir)
        ports = free_ports(2)
        node = cls(
            cp=cp,
            workdir=workdir,
            name=name or default_node_name(),
            node_bin_dir=node_bin_dir,
            kubelet_bin=kubelet_bin,
            containerd_major=containerd_major_version(node_bin_dir / "bin" / "containerd"),
            kubelet_port=ports[0],
            healthz_port=ports[1],
            _state=state,
        )
        weakref.finalize(node, cleanup_host, state)
        try:
            node._prepare_dirs()
            save_sysctls(state)
            make_cgroup_root(state)
            node._start_containerd(timeout)
            write_host_state(state)
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
    def nri_socket(self) -> Path:
        """containerd's NRI socket (NRI is enabled on this node)."""
        return self.workdir / "nri" / "nri.sock"

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
        code, body = probe(self.kubelet_url + path, token=self.cp.token, context=insecure_context())
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

    def restart_containerd(self, timeout: float = 60.0) -> None:
        """Stop containerd (containers keep running under their shims) and start it again; it
        recreates its NRI socket, so NRI plugins must reconnect."""
        comp = self._components["containerd"]
        comp.stop(timeout=15)
        comp.start()
        self._wait_containerd(comp, timeout)

    def stop(self) -> None:
        """Tear everything down (idempotent); raise :class:`NodeError` if something stayed."""
        problems = cleanup_host(self._state)
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

    def _add(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Component:
        comp = Component(name=name, argv=argv, log=self.logs_dir / f"{name}.log", env=env)
        self._components[name] = comp
        self._state.components.append(comp)
        return comp

    def _prepare_dirs(self) -> None:
        w = self.workdir
        for sub in _WORKDIR_LAYOUT:
            (w / sub).mkdir(parents=True, exist_ok=True)
        (w / "cni/net.d/10-drafast-lo.conflist").write_text(json.dumps(LOOPBACK_CNI) + "\n")

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
        # containerd looks up its shim binary on PATH; NOTIFY_SOCKET would make it sd_notify
        # whatever systemd unit started us
        env = {**os.environ, "PATH": f"{bins}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        env.pop("NOTIFY_SOCKET", None)
        comp = self._add(
            "containerd",
            [str(bins / "containerd"), "--config", str(w / "containerd/config.toml")],
            env=env,
        )
        comp.start()
        self._wait_containerd(comp, timeout)

    def _wait_containerd(self, comp: Component, timeout: float) -> None:
        bins = self.node_bin_dir / "bin"
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
        self._kubelet_flags = kubelet_argv(
            self.kubelet_bin,
            config=w / "kubelet-config.yaml",
            kubeconfig=self.cp.kubeconfig,
            root_dir=self.kubelet_root,
            node_name=self.name,
            verbosity=verbosity,
            component_flags=self.cp.component_flags(),
        )
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

    def _wait_kubelet(self, comp: Component, timeout: float, newer_than: str = "") -> None:
        deadline = time.monotonic() + timeout
        healthz = f"http://127.0.0.1:{self.healthz_port}/healthz"
        detail = "kubelet /healthz not answering"
        while True:
            if not comp.running():
                raise NodeError(f"kubelet exited while starting (log {comp.log}):\n{comp.tail(60)}")
            code, body = probe(healthz)
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


@contextlib.contextmanager
def running_node(cp: ControlPlane, workdir: Path | str, **kwargs: Any) -> Iterator[Node]:
    """``with running_node(cp, dir) as node:`` -- stopped (and checked clean) afterwards."""
    node = Node.start(cp, workdir, **kwargs)
    try:
        yield node
    finally:
        node.stop()


if __name__ == "__main__":  # make cluster NODE=1
    from drafast.testing.cluster.cli import node_main

    sys.exit(node_main())
