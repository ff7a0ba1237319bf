"""What the control-plane components are told: feature gates, API versions, command lines and
the admin kubeconfig. Pure rendering (plus two tool calls: ``etcd --version``, ``openssl``);
:class:`~drafast.testing.cluster.controlplane.ControlPlane` decides the files and ports."""

from __future__ import annotations

import base64
import contextlib
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ADMIN_USER",
    "DEFAULT_FEATURE_GATES",
    "DEFAULT_RUNTIME_CONFIG",
    "admin_kubeconfig",
    "apiserver_argv",
    "ca_certificates",
    "controller_manager_argv",
    "etcd_argv",
    "etcd_version",
    "feature_gates_flag",
    "scheduler_argv",
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

#: The one user of the static token file (``system:masters``).
ADMIN_USER = "drafast-admin"


def feature_gates_flag(gates: Mapping[str, bool]) -> list[str]:
    """``--feature-gates=A=true,B=false`` (sorted), or nothing for no gates."""
    if not gates:
        return []
    return [
        "--feature-gates=" + ",".join(f"{k}={str(v).lower()}" for k, v in sorted(gates.items()))
    ]


def etcd_version(etcd: Path) -> tuple[int, ...]:
    """(major, minor, patch) of an etcd binary; ``(0,)`` if it does not say."""
    out = subprocess.run(
        [str(etcd), "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    for line in out.splitlines():
        if line.startswith("etcd Version:"):
            with contextlib.suppress(ValueError):
                return tuple(int(x) for x in line.split(":", 1)[1].strip().split(".")[:3])
    return (0,)


def etcd_argv(etcd: Path, *, data_dir: Path, client_url: str, peer_port: int) -> list[str]:
    """A one-member etcd without fsync (test data), reporting watch progress every 5 s."""
    peer = f"http://127.0.0.1:{peer_port}"
    # etcd 3.6 dropped the "experimental" prefix of the flag
    progress = (
        "--watch-progress-notify-interval=5s"
        if etcd_version(etcd) >= (3, 6)
        else "--experimental-watch-progress-notify-interval=5s"
    )
    return [
        str(etcd),
        "--name=node0",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=node0={peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
        progress,
    ]


def apiserver_argv(
    kube_apiserver: Path,
    *,
    etcd_url: str,
    port: int,
    cert_dir: Path,
    token_file: Path,
    service_account_key: Path,
    audit_policy: Path,
    audit_log: Path,
    feature_gates: Mapping[str, bool],
    runtime_config: Mapping[str, str],
) -> list[str]:
    """kube-apiserver on 127.0.0.1 with a self-signed cert, static-token admin, RBAC, and a
    blocking JSON audit log that is never rotated (tests count its events)."""
    argv = [
        str(kube_apiserver),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        f"--token-auth-file={token_file}",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={service_account_key}",
        f"--service-account-signing-key-file={service_account_key}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
        "--endpoint-reconciler-type=none",
        "--enable-priority-and-fairness=false",
        "--kubelet-preferred-address-types=Hostname",
        "--profiling=false",
        f"--audit-policy-file={audit_policy}",
        f"--audit-log-path={audit_log}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        "--audit-log-maxage=0",
        "--audit-log-maxbackup=0",
        "--audit-log-maxsize=0",
        *feature_gates_flag(feature_gates),
    ]
    if runtime_config:
        rc = ",".join(f"{k}={v}" for k, v in sorted(runtime_config.items()))
        argv.append(f"--runtime-config={rc}")
    return argv


def _controller_flags(kubeconfig: Path, feature_gates: Mapping[str, bool]) -> list[str]:
    # no leader election (one replica); health and metrics readable without a token
    return [
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        *feature_gates_flag(feature_gates),
    ]


def controller_manager_argv(
    kube_controller_manager: Path,
    *,
    kubeconfig: Path,
    port: int,
    service_account_key: Path,
    root_ca: Path,
    feature_gates: Mapping[str, bool],
) -> list[str]:
    """kube-controller-manager with every controller (the DRA ones included)."""
    return [
        str(kube_controller_manager),
        *_controller_flags(kubeconfig, feature_gates),
        f"--secure-port={port}",
        f"--service-account-private-key-file={service_account_key}",
        f"--root-ca-file={root_ca}",
        "--controllers=*",
    ]


def scheduler_argv(
    kube_scheduler: Path, *, kubeconfig: Path, port: int, feature_gates: Mapping[str, bool]
) -> list[str]:
    """kube-scheduler (it allocates ResourceClaims)."""
    return [
        str(kube_scheduler),
        *_controller_flags(kubeconfig, feature_gates),
        f"--secure-port={port}",
    ]


def ca_certificates(bundle: str) -> str:
    """Only the CA certificate(s) of a PEM bundle (kube-apiserver writes leaf first, then its
    CA); the whole bundle if ``openssl`` finds no CA in it.

    kube-controller-manager publishes ``--root-ca-file`` as a ClusterTrustBundle, which must not
    contain a leaf certificate.
    """
    end = "-----END CERTIFICATE-----"
    blocks = [b.strip() + "\n" + end + "\n" for b in bundle.split(end) if "BEGIN" in b]
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
    return "".join(cas or blocks)


def admin_kubeconfig(server: str, ca_pem: bytes, token: str) -> dict[str, Any]:
    """A kubeconfig for :data:`ADMIN_USER` (bearer ``token``) trusting ``ca_pem``."""
    ca = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "drafast",
                "cluster": {"server": server, "certificate-authority-data": ca},
            }
        ],
        "users": [{"name": ADMIN_USER, "user": {"token": token}}],
        "contexts": [{"name": "drafast", "context": {"cluster": "drafast", "user": ADMIN_USER}}],
        "current-context": "drafast",
    }
