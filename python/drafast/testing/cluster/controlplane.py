"""A real Kubernetes control plane on loopback for end-to-end tests.

etcd, kube-apiserver, kube-scheduler and kube-controller-manager run as child processes (each in
its own process group) on free 127.0.0.1 ports, with every file under one work directory::

    cp = ControlPlane.start(bin_dir, workdir)
    try:
        cp.kubectl("get", "nodes")
        cp.api.get("/apis/resource.k8s.io/v1/resourceslices")
        cp.restart_apiserver()
        cp.audit.count(resource="resourceslices")
    finally:
        cp.stop()

The binaries come from ``tests/e2e/tools/cluster-bins.sh`` (``make cluster-bins``). Everything is
torn down by :meth:`ControlPlane.stop`, by a finalizer/``atexit`` guard if a caller forgets, and --
when started from the main thread -- by the kernel (``setpriv --pdeathsig``) if Python itself dies.

Run by hand (``make cluster``; see :func:`drafast.testing.cluster.cli.controlplane_main`)::

    python -m drafast.testing.cluster.controlplane --bin-dir ~/.cache/drafast/k8s-current/bin

Only the standard library, PyYAML and the ``openssl`` command are used.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
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

from drafast.testing.bins import default_bin_dir, missing_binaries
from drafast.testing.cluster.apiclient import ApiClient
from drafast.testing.cluster.audit import AUDIT_POLICY, AuditLog
from drafast.testing.cluster.controlplaneconfig import (
    ADMIN_USER,
    DEFAULT_FEATURE_GATES,
    DEFAULT_RUNTIME_CONFIG,
    admin_kubeconfig,
    apiserver_argv,
    ca_certificates,
    controller_manager_argv,
    etcd_argv,
    feature_gates_flag,
    scheduler_argv,
)
from drafast.testing.cluster.errors import ControlPlaneError
from drafast.testing.cluster.probes import insecure_context, probe
from drafast.testing.cluster.processes import Component, free_ports, kill_components

__all__ = ["ControlPlane", "running_control_plane"]


def _wait_component(
    what: str,
    check: Callable[[], tuple[bool, str]],
    component: Component,
    timeout: float,
) -> None:
    """Poll ``check`` until ok; fail at once (with the log tail) if ``component`` dies."""
    deadline = time.monotonic() + timeout
    detail = ""
    while True:
        if not component.running():
            raise ControlPlaneError(
                f"{component.name} exited while waiting for {what} "
                f"(log {component.log}):\n{component.tail()}"
            )
        ok, detail = check()
        if ok:
            return
        if time.monotonic() > deadline:
            raise ControlPlaneError(
                f"{what} not reached after {timeout:.0f}s ({detail[:500]}); "
                f"{component.name} log {component.log}:\n{component.tail()}"
            )
        time.sleep(0.25)


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver + kube-scheduler + kube-controller-manager."""

    bin_dir: Path
    workdir: Path
    feature_gates: Mapping[str, bool]
    runtime_config: Mapping[str, str]
    extra_args: Mapping[str, Sequence[str]]
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    etcd_port: int = 0
    etcd_peer_port: int = 0
    apiserver_port: int = 0
    scheduler_port: int = 0
    controller_manager_port: int = 0
    _components: list[Component] = field(default_factory=list)
    _by_name: dict[str, Component] = field(default_factory=dict)
    _api: ApiClient | None = None

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        bin_dir: Path | str,
        workdir: Path | str,
        *,
        feature_gates: Mapping[str, bool] | None = None,
        runtime_config: Mapping[str, str] | None = None,
        extra_args: Mapping[str, Sequence[str]] | None = None,
        timeout: float = 120.0,
    ) -> ControlPlane:
        """Start everything and wait until it is ready; on any failure nothing is left running.

        ``extra_args`` maps a component name (``etcd``, ``kube-apiserver``, ``kube-scheduler``,
        ``kube-controller-manager``) to additional command-line flags.
        """
        bin_dir = Path(bin_dir).expanduser().resolve()
        missing = missing_binaries(bin_dir)
        if missing:
            raise ControlPlaneError(
                f"missing Kubernetes binaries in {bin_dir}: {', '.join(missing)} "
                "-- run `make cluster-bins` (tests/e2e/tools/cluster-bins.sh)"
            )
        workdir = Path(workdir).expanduser().resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(5)
        cp = cls(
            bin_dir=bin_dir,
            workdir=workdir,
            feature_gates=dict(DEFAULT_FEATURE_GATES if feature_gates is None else feature_gates),
            runtime_config=dict(
                DEFAULT_RUNTIME_CONFIG if runtime_config is None else runtime_config
            ),
            extra_args=dict(extra_args or {}),
            etcd_port=ports[0],
            etcd_peer_port=ports[1],
            apiserver_port=ports[2],
            scheduler_port=ports[3],
            controller_manager_port=ports[4],
        )
        # The guard holds the component list, not cp, so cp can still be garbage-collected.
        weakref.finalize(cp, kill_components, cp._components)
        try:
            cp._write_files()
            cp._start_etcd(timeout)
            cp._start_apiserver(timeout)
            cp._write_kubeconfig()
            cp._start_controllers(timeout)
        except BaseException:
            cp.stop()
            raise
        return cp

    # -- public face -------------------------------------------------------------------------------

    @property
    def server(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (``system:masters``, CA = the API server's self-signed cert)."""
        return self.workdir / "admin.kubeconfig"

    @property
    def ca_file(self) -> Path:
        """The CA of the API server's self-signed serving certificate (``--cert-dir``)."""
        return self.workdir / "ca.crt"

    @property
    def serving_cert_file(self) -> Path:
        """Serving certificate + its CA, as kube-apiserver generated them."""
        return self.workdir / "apiserver" / "apiserver.crt"

    @property
    def audit_log_path(self) -> Path:
        return self.workdir / "audit" / "audit.log"

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.audit_log_path)

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def api(self) -> ApiClient:
        """A stdlib JSON client authenticated as the admin."""
        if self._api is None:
            self._api = ApiClient(self.server, self.token, self.ca_file)
        return self._api

    def component_flags(self) -> list[str]:
        """Feature-gate flags to give any extra component (e.g. a kubelet) of this cluster."""
        return feature_gates_flag(self.feature_gates)

    def env(self) -> dict[str, str]:
        """``os.environ`` plus ``KUBECONFIG`` for this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the bin dir's kubectl against this cluster; raise with stderr if it fails."""
        res = subprocess.run(
            [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and res.returncode != 0:
            raise ControlPlaneError(
                f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stderr}{res.stdout}"
            )
        return res

    def running(self) -> dict[str, bool]:
        """Component name -> process alive."""
        return {c.name: c.running() for c in self._components}

    def check_alive(self) -> None:
        """Raise :class:`ControlPlaneError` with the log tail of any component that died."""
        for c in self._components:
            if not c.running():
                raise ControlPlaneError(f"{c.name} is not running (log {c.log}):\n{c.tail()}")

    def pid(self, name: str) -> int:
        """The process ID of the running component ``name`` (``kube-apiserver``, ``etcd``...)."""
        comp = self._by_name[name]
        if comp.proc is None or not comp.running():
            raise ControlPlaneError(f"{name} is not running (log {comp.log})")
        return comp.proc.pid

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver only (the others keep running and retry)."""
        self._by_name["kube-apiserver"].stop()

    def start_apiserver(self, timeout: float = 120.0) -> None:
        """Start a stopped kube-apiserver again (same port, certs, etcd) and wait for /readyz."""
        comp = self._by_name["kube-apiserver"]
        if comp.running():
            return
        comp.start()
        self._wait_apiserver(comp, timeout)

    def restart_apiserver(self, downtime: float = 0.0, timeout: float = 120.0) -> None:
        """Stop kube-apiserver, stay down ``downtime`` seconds, start it, wait until ready."""
        self.stop_apiserver()
        if downtime > 0:
            time.sleep(downtime)
        self.start_apiserver(timeout)

    def stop(self) -> None:
        """Stop every component (controllers first, etcd last). Idempotent."""
        for c in reversed(self._components):
            with contextlib.suppress(Exception):
                c.stop()

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

    def _add(self, name: str, argv: list[str]) -> Component:
        comp = Component(
            name=name,
            argv=[*argv, *self.extra_args.get(name, ())],
            log=self.logs_dir / f"{name}.log",
        )
        self._components.append(comp)
        self._by_name[name] = comp
        return comp

    def _write_files(self) -> None:
        w = self.workdir
        for sub in ("apiserver", "audit", "logs"):
            (w / sub).mkdir(parents=True, exist_ok=True)
        (w / "etcd").mkdir(mode=0o700, exist_ok=True)
        sa_key = w / "sa.key"
        if not sa_key.exists():
            res = subprocess.run(
                ["openssl", "genrsa", "-out", str(sa_key), "2048"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if res.returncode != 0:
                raise ControlPlaneError(f"openssl genrsa failed: {res.stderr}")
        (w / "tokens.csv").write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        (w / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))

    def _start_etcd(self, timeout: float) -> None:
        argv = etcd_argv(
            self.bin_dir / "etcd",
            data_dir=self.workdir / "etcd",
            client_url=self.etcd_url,
            peer_port=self.etcd_peer_port,
        )
        comp = self._add("etcd", argv)
        comp.start()

        def healthy() -> tuple[bool, str]:
            code, body = probe(self.etcd_url + "/health")
            try:
                return code == 200 and json.loads(body).get("health") == "true", body
            except ValueError:
                return False, body

        _wait_component("etcd /health", healthy, comp, timeout)

    def _wait_apiserver(self, comp: Component, timeout: float) -> None:
        url = self.server + "/readyz"
        ctx = insecure_context()  # the cert may not exist yet; the kubeconfig verifies it

        def ready() -> tuple[bool, str]:
            code, body = probe(url, token=self.token, context=ctx)
            return code == 200, body

        _wait_component("kube-apiserver /readyz", ready, comp, timeout)

    def _start_apiserver(self, timeout: float) -> None:
        w = self.workdir
        argv = apiserver_argv(
            self.bin_dir / "kube-apiserver",
            etcd_url=self.etcd_url,
            port=self.apiserver_port,
            cert_dir=w / "apiserver",
            token_file=w / "tokens.csv",
            service_account_key=w / "sa.key",
            audit_policy=w / "audit-policy.yaml",
            audit_log=self.audit_log_path,
            feature_gates=self.feature_gates,
            runtime_config=self.runtime_config,
        )
        comp = self._add("kube-apiserver", argv)
        comp.start()
        self._wait_apiserver(comp, timeout)

    def _write_kubeconfig(self) -> None:
        if not self.serving_cert_file.is_file():
            raise ControlPlaneError(f"kube-apiserver wrote no {self.serving_cert_file}")
        self.ca_file.write_text(ca_certificates(self.serving_cert_file.read_text()))
        cfg = admin_kubeconfig(self.server, self.ca_file.read_bytes(), self.token)
        tmp = self.kubeconfig.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
        tmp.chmod(0o600)
        tmp.replace(self.kubeconfig)

    def _start_controllers(self, timeout: float) -> None:
        kcm = self._add(
            "kube-controller-manager",
            controller_manager_argv(
                self.bin_dir / "kube-controller-manager",
                kubeconfig=self.kubeconfig,
                port=self.controller_manager_port,
                service_account_key=self.workdir / "sa.key",
                root_ca=self.ca_file,
                feature_gates=self.feature_gates,
            ),
        )
        sched = self._add(
            "kube-scheduler",
            scheduler_argv(
                self.bin_dir / "kube-scheduler",
                kubeconfig=self.kubeconfig,
                port=self.scheduler_port,
                feature_gates=self.feature_gates,
            ),
        )
        kcm.start()
        sched.start()
        ctx = insecure_context()
        for comp, port in ((kcm, self.controller_manager_port), (sched, self.scheduler_port)):
            url = f"https://127.0.0.1:{port}/healthz"

            def healthy(url: str = url) -> tuple[bool, str]:
                code, body = probe(url, context=ctx)
                return code == 200, body

            _wait_component(f"{comp.name} /healthz", healthy, comp, timeout)


@contextlib.contextmanager
def running_control_plane(
    bin_dir: Path | str | None = None, workdir: Path | str | None = None, **kwargs: Any
) -> Iterator[ControlPlane]:
    """``with running_control_plane() as cp:`` -- a temp workdir (removed after) if none given."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="drafast-cp-"))
        cp = ControlPlane.start(bin_dir or default_bin_dir(), workdir, **kwargs)
        stack.callback(cp.stop)
        yield cp


if __name__ == "__main__":  # make cluster
    from drafast.testing.cluster.cli import controlplane_main

    sys.exit(controlplane_main())
