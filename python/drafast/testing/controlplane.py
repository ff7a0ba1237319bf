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

Run by hand (``make cluster``)::

    python -m drafast.testing.controlplane --bin-dir ~/.cache/drafast/k8s-v1.37.2/bin

Only the standard library, PyYAML and the ``openssl`` command are used.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from drafast.testing.bins import default_bin_dir, missing_binaries

__all__ = [
    "DEFAULT_FEATURE_GATES",
    "DEFAULT_RUNTIME_CONFIG",
    "ApiClient",
    "ApiError",
    "AuditLog",
    "ControlPlane",
    "ControlPlaneError",
    "main",
]

#: Feature gates passed to every component (apiserver, scheduler, controller-manager; a kubelet
#: started later should get the same: :meth:`ControlPlane.component_flags`). v1.37 already has the
#: GA/beta DRA features on (DynamicResourceAllocation, DRADeviceTaints, DRAPartitionableDevices,
#: DRAConsumableCapacity, DRADeviceBindingConditions, DRAResourceClaimDeviceStatus, ...); these are
#: the alpha ones that change what a kubelet plugin may publish or is asked to do. Without them the
#: API server silently DROPS the gated ResourceSlice fields on write.
DEFAULT_FEATURE_GATES: Mapping[str, bool] = {
    "DRAListTypeAttributes": True,  # list-valued device attributes (1.36 alpha)
    "DRAOptionalNodeOperations": True,  # spec.skipNodeOperations (1.37 alpha)
    "DRANodeAllocatableResources": True,  # device.nodeAllocatableResources (1.36 alpha)
    "DRADeviceCompatibilityGroups": True,  # 1.37 alpha
    "DRADerivedAttributes": True,  # 1.37 alpha
    "DRAResourcePoolStatus": True,  # ResourcePoolStatusRequest, resource.k8s.io/v1alpha3
    "DRAPartitionableDevicesType": True,  # spec.partitionTypeAttribute (needs the one above)
}

#: ``--runtime-config`` of the apiserver. ``resource.k8s.io/v1`` is GA and served by default;
#: v1alpha3 holds ResourcePoolStatusRequest (DRAResourcePoolStatus) and v1beta1/v1beta2 let
#: clients written against older releases talk to this cluster too.
DEFAULT_RUNTIME_CONFIG: Mapping[str, str] = {
    "resource.k8s.io/v1alpha3": "true",
    "resource.k8s.io/v1beta1": "true",
    "resource.k8s.io/v1beta2": "true",
}

#: Audit policy: ResourceSlice and ResourceClaim writes at Metadata level, nothing else.
AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "Metadata",
            "verbs": ["create", "update", "patch", "delete", "deletecollection"],
            "resources": [
                {
                    "group": "resource.k8s.io",
                    "resources": ["resourceslices", "resourceclaims", "resourceclaims/status"],
                }
            ],
        },
        {"level": "None"},
    ],
}

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
ADMIN_USER = "drafast-admin"


class ControlPlaneError(RuntimeError):
    """A component failed to start, became unready, or a binary is missing."""


class ApiError(RuntimeError):
    """A non-2xx answer from the API server."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.method, self.path, self.status, self.body = method, path, status, body
        super().__init__(f"{method} {path}: HTTP {status}: {body[:2000]}")


# --------------------------------------------------------------------------------------------------
# processes


def _die_with_parent_prefix() -> list[str]:
    """``setpriv --pdeathsig KILL`` (util-linux) when safe, so children die if Python is killed.

    The parent-death signal fires when the *thread* that forked the child exits, so it is only
    used from the main thread (a child started from a worker thread would die with that thread).
    """
    if threading.current_thread() is not threading.main_thread():
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Component:
    """One child process in its own session/process group, logging to ``log``."""

    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    pgid: int = 0

    def start(self) -> None:
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
            )
        self.pgid = self.proc.pid  # start_new_session: pgid == pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole group, SIGKILL what is left after ``timeout``; reap the child."""
        if self.proc is None:
            return
        _kill_group(self.pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(self.pgid, signal.SIGKILL)
            self.proc.wait(10)
        # Leftover grandchildren (none expected) share the group: make sure they go too.
        deadline = time.monotonic() + 5
        while _group_alive(self.pgid) and time.monotonic() < deadline:
            _kill_group(self.pgid, signal.SIGKILL)
            time.sleep(0.05)
        self.proc = None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _kill_all(components: list[_Component]) -> None:
    """Finalizer/atexit guard: must not reference the ControlPlane itself."""
    for c in reversed(components):
        if c.proc is not None:
            _kill_group(c.pgid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                c.proc.wait(10)
            c.proc = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


# --------------------------------------------------------------------------------------------------
# HTTP


def _insecure_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _probe(
    url: str, *, token: str | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, str]:
    """GET ``url``; (status, body), or (0, error text) if nothing answered."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5, context=context) as resp:
            return int(resp.status), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return int(e.code), e.read().decode(errors="replace")
    except (OSError, ssl.SSLError) as e:
        return 0, str(e)


class ApiClient:
    """A minimal JSON client for the API server (stdlib only; verifies the serving cert)."""

    def __init__(self, server: str, token: str, ca_file: Path | None) -> None:
        self.server = server.rstrip("/")
        self.token = token
        if ca_file is None:
            self._ctx = _insecure_context()
        else:
            self._ctx = ssl.create_default_context(cafile=str(ca_file))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        """Send ``body`` as JSON; return the decoded JSON answer. Raises :class:`ApiError`."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ctx) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise ApiError(method, path, e.code, e.read().decode(errors="replace")) from None
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def create(self, path: str, obj: Mapping[str, Any]) -> Any:
        return self.request("POST", path, obj)

    def replace(self, path: str, obj: Mapping[str, Any]) -> Any:
        return self.request("PUT", path, obj)

    def merge_patch(self, path: str, patch: Mapping[str, Any]) -> Any:
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    def delete(self, path: str, *, grace_seconds: int | None = None) -> Any:
        body = None if grace_seconds is None else {"gracePeriodSeconds": grace_seconds}
        return self.request("DELETE", path, body)


# --------------------------------------------------------------------------------------------------
# audit


@dataclass(frozen=True)
class AuditLog:
    """The API server's JSON audit log (appended to across API-server restarts)."""

    path: Path

    def events(self) -> list[dict[str, Any]]:
        """Every complete event written so far (``ResponseComplete``/``Panic`` stages)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def writes(
        self,
        *,
        resource: str = "resourceslices",
        subresource: str | None = None,
        verbs: frozenset[str] = WRITE_VERBS,
        user: str | None = None,
        successful_only: bool = True,
    ) -> list[dict[str, Any]]:
        """Write events for ``resource`` (optionally one subresource / one user name)."""
        found = []
        for ev in self.events():
            ref = ev.get("objectRef") or {}
            if ref.get("resource") != resource or ev.get("verb") not in verbs:
                continue
            if (ref.get("subresource") or None) != subresource:
                continue
            if user is not None and (ev.get("user") or {}).get("username") != user:
                continue
            code = (ev.get("responseStatus") or {}).get("code", 0)
            if successful_only and not 200 <= int(code) < 300:
                continue
            found.append(ev)
        return found

    def count(self, **kwargs: Any) -> int:
        """``len(self.writes(**kwargs))``."""
        return len(self.writes(**kwargs))


# --------------------------------------------------------------------------------------------------
# the control plane


def _gates_flag(gates: Mapping[str, bool]) -> list[str]:
    if not gates:
        return []
    return [
        "--feature-gates=" + ",".join(f"{k}={str(v).lower()}" for k, v in sorted(gates.items()))
    ]


def _etcd_version(etcd: Path) -> tuple[int, ...]:
    out = subprocess.run(
        [str(etcd), "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    for line in out.splitlines():
        if line.startswith("etcd Version:"):
            with contextlib.suppress(ValueError):
                return tuple(int(x) for x in line.split(":", 1)[1].strip().split(".")[:3])
    return (0,)


def _wait_until(
    what: str,
    check: Callable[[], tuple[bool, str]],
    component: _Component,
    timeout: float,
) -> None:
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
    _components: list[_Component] = field(default_factory=list)
    _by_name: dict[str, _Component] = field(default_factory=dict)
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
        ports = _free_ports(5)
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
        weakref.finalize(cp, _kill_all, cp._components)
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
        return _gates_flag(self.feature_gates)

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

    def _add(self, name: str, argv: list[str]) -> _Component:
        comp = _Component(
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
        etcd = self.bin_dir / "etcd"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        progress = (
            "--watch-progress-notify-interval=5s"
            if _etcd_version(etcd) >= (3, 6)
            else "--experimental-watch-progress-notify-interval=5s"
        )
        comp = self._add(
            "etcd",
            [
                str(etcd),
                "--name=node0",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=node0={peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
                progress,
            ],
        )
        comp.start()

        def healthy() -> tuple[bool, str]:
            code, body = _probe(self.etcd_url + "/health")
            try:
                return code == 200 and json.loads(body).get("health") == "true", body
            except ValueError:
                return False, body

        _wait_until("etcd /health", healthy, comp, timeout)

    def _apiserver_argv(self) -> list[str]:
        w = self.workdir
        argv = [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            f"--cert-dir={w / 'apiserver'}",
            f"--token-auth-file={w / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={w / 'sa.key'}",
            f"--service-account-signing-key-file={w / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--enable-priority-and-fairness=false",
            "--kubelet-preferred-address-types=Hostname",
            "--profiling=false",
            f"--audit-policy-file={w / 'audit-policy.yaml'}",
            f"--audit-log-path={self.audit_log_path}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
            "--audit-log-maxage=0",
            "--audit-log-maxbackup=0",
            "--audit-log-maxsize=0",
            *_gates_flag(self.feature_gates),
        ]
        if self.runtime_config:
            rc = ",".join(f"{k}={v}" for k, v in sorted(self.runtime_config.items()))
            argv.append(f"--runtime-config={rc}")
        return argv

    def _wait_apiserver(self, comp: _Component, timeout: float) -> None:
        url = self.server + "/readyz"
        ctx = _insecure_context()  # the cert may not exist yet; the kubeconfig verifies it

        def ready() -> tuple[bool, str]:
            code, body = _probe(url, token=self.token, context=ctx)
            return code == 200, body

        _wait_until("kube-apiserver /readyz", ready, comp, timeout)

    def _start_apiserver(self, timeout: float) -> None:
        comp = self._add("kube-apiserver", self._apiserver_argv())
        comp.start()
        self._wait_apiserver(comp, timeout)

    def _write_ca(self) -> None:
        """Keep only the CA certificate(s) of the generated bundle (leaf first, then its CA).

        kube-controller-manager publishes ``--root-ca-file`` as a ClusterTrustBundle, which
        must not contain a leaf certificate.
        """
        if not self.serving_cert_file.is_file():
            raise ControlPlaneError(f"kube-apiserver wrote no {self.serving_cert_file}")
        end = "-----END CERTIFICATE-----"
        text = self.serving_cert_file.read_text()
        blocks = [b.strip() + "\n" + end + "\n" for b in text.split(end) if "BEGIN" in b]
        cas = []
        for pem in blocks:
            res = subprocess.run(
                ["openssl", "x509", "-noout", "-ext", "basicConstraints"],
                input=pem,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if "CA:TRUE" in res.stdout:
                cas.append(pem)
        self.ca_file.write_text("".join(cas or blocks))

    def _write_kubeconfig(self) -> None:
        self._write_ca()
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "drafast",
                    "cluster": {"server": self.server, "certificate-authority-data": ca},
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [
                {"name": "drafast", "context": {"cluster": "drafast", "user": ADMIN_USER}}
            ],
            "current-context": "drafast",
        }
        tmp = self.kubeconfig.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
        tmp.chmod(0o600)
        tmp.replace(self.kubeconfig)

    def _start_controllers(self, timeout: float) -> None:
        common = [
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            *_gates_flag(self.feature_gates),
        ]
        kcm = self._add(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                *common,
                f"--secure-port={self.controller_manager_port}",
                f"--service-account-private-key-file={self.workdir / 'sa.key'}",
                f"--root-ca-file={self.ca_file}",
                "--controllers=*",
            ],
        )
        sched = self._add(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                *common,
                f"--secure-port={self.scheduler_port}",
            ],
        )
        kcm.start()
        sched.start()
        ctx = _insecure_context()
        for comp, port in ((kcm, self.controller_manager_port), (sched, self.scheduler_port)):
            url = f"https://127.0.0.1:{port}/healthz"

            def healthy(url: str = url) -> tuple[bool, str]:
                code, body = _probe(url, context=ctx)
                return code == 200, body

            _wait_until(f"{comp.name} /healthz", healthy, comp, timeout)


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


# --------------------------------------------------------------------------------------------------
# CLI: make cluster


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drafast.testing.controlplane",
        description="Run a real Kubernetes control plane on loopback until Ctrl-C.",
    )
    parser.add_argument(
        "--bin-dir",
        type=Path,
        default=None,
        help="directory with etcd, kube-* and kubectl (default: $DRAFAST_K8S_BIN or the cache)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="state directory (default: a new temp dir, kept after exit)",
    )
    parser.add_argument(
        "--feature-gates",
        default=None,
        help="Gate=true,Other=false for every component (default: the harness defaults)",
    )
    args = parser.parse_args(argv)
    bin_dir: Path = args.bin_dir or default_bin_dir()
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="drafast-cluster-"))
    gates: dict[str, bool] | None = None
    if args.feature_gates is not None:
        gates = {}
        for item in filter(None, args.feature_gates.split(",")):
            key, _, value = item.partition("=")
            gates[key.strip()] = value.strip().lower() in {"", "true", "1"}

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    print(f"==> starting a control plane from {bin_dir} in {workdir}", flush=True)
    try:
        cp = ControlPlane.start(bin_dir, workdir, feature_gates=gates)
    except ControlPlaneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        print(f"==> API server {cp.server} ready", flush=True)
        print(f"kubeconfig: {cp.kubeconfig}")
        print(f"audit log:  {cp.audit_log_path}")
        print(f"logs:       {cp.logs_dir}")
        print(f"export KUBECONFIG={cp.kubeconfig}")
        print("==> press Ctrl-C to stop", flush=True)
        while True:
            time.sleep(1)
            for name, alive in cp.running().items():
                if not alive:
                    print(f"error: {name} exited; see {cp.logs_dir / (name + '.log')}")
                    return 1
    except KeyboardInterrupt:
        print("\n==> stopping", flush=True)
        return 0
    finally:
        cp.stop()


if __name__ == "__main__":
    sys.exit(main())
