"""A real Kubernetes cluster on this machine, for drafast's end-to-end tests and benchmarks.

* :mod:`.controlplane` -- :class:`ControlPlane`: etcd, kube-apiserver, kube-scheduler and
  kube-controller-manager on loopback (flags and kubeconfig: :mod:`.controlplaneconfig`;
  the audit log tests count writes in: :mod:`.audit`);
* :mod:`.node` -- :class:`Node`: containerd + the kubelet joined to a control plane (binaries:
  :mod:`.nodebins`; config files: :mod:`.nodeconfig`; what it does to the host and undoing it:
  :mod:`.nodehost`, :mod:`.hostfs`);
* :mod:`.hostplugin` -- :class:`HostPlugin`: ``drafast run`` as a host process on that node;
* :mod:`.pods` -- test pod manifests, waiting for pods to run or go;
* :mod:`.apiclient` -- :class:`ApiClient`, the small JSON client tests talk to the API with;
* :mod:`.probes` -- health checks, ``/metrics`` parsing; :mod:`.processes` -- child processes,
  ports, polling; :mod:`.errors` -- :class:`ControlPlaneError`, :class:`NodeError`;
* :mod:`.cli` -- ``make cluster``: ``python -m drafast.testing.cluster.controlplane`` and
  ``python -m drafast.testing.cluster.node``.

The names below are re-exported lazily: importing the package must not import
:mod:`.controlplane` or :mod:`.node`, or ``python -m`` on them would run a second copy of the
module (runpy warns about exactly that).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drafast.testing.cluster.apiclient import ApiClient as ApiClient
    from drafast.testing.cluster.apiclient import ApiError as ApiError
    from drafast.testing.cluster.audit import AuditLog as AuditLog
    from drafast.testing.cluster.controlplane import ControlPlane as ControlPlane
    from drafast.testing.cluster.controlplane import (
        running_control_plane as running_control_plane,
    )
    from drafast.testing.cluster.controlplaneconfig import (
        DEFAULT_FEATURE_GATES as DEFAULT_FEATURE_GATES,
    )
    from drafast.testing.cluster.controlplaneconfig import (
        DEFAULT_RUNTIME_CONFIG as DEFAULT_RUNTIME_CONFIG,
    )
    from drafast.testing.cluster.errors import ControlPlaneError as ControlPlaneError
    from drafast.testing.cluster.errors import NodeError as NodeError
    from drafast.testing.cluster.hostplugin import HostPlugin as HostPlugin
    from drafast.testing.cluster.node import Node as Node
    from drafast.testing.cluster.node import running_node as running_node
    from drafast.testing.cluster.nodebins import NODE_BINARIES as NODE_BINARIES
    from drafast.testing.cluster.nodebins import default_node_bin_dir as default_node_bin_dir
    from drafast.testing.cluster.nodebins import default_node_name as default_node_name
    from drafast.testing.cluster.nodebins import missing_node_binaries as missing_node_binaries
    from drafast.testing.cluster.nodehost import cleanup_stale_nodes as cleanup_stale_nodes
    from drafast.testing.cluster.pods import SLEEP_FOREVER as SLEEP_FOREVER
    from drafast.testing.cluster.pods import delete_pods as delete_pods
    from drafast.testing.cluster.pods import pod_manifest as pod_manifest
    from drafast.testing.cluster.pods import pod_running as pod_running
    from drafast.testing.cluster.pods import wait_pods_running as wait_pods_running
    from drafast.testing.cluster.probes import parse_metrics as parse_metrics
    from drafast.testing.cluster.processes import free_port as free_port
    from drafast.testing.cluster.processes import wait_until as wait_until

#: Public name -> the module of this package that defines it (kept equal to the imports above
#: and to ``__all__`` by tests/unit/testing/test_cluster.py).
_EXPORTS = {
    "ApiClient": "apiclient",
    "ApiError": "apiclient",
    "AuditLog": "audit",
    "ControlPlane": "controlplane",
    "running_control_plane": "controlplane",
    "DEFAULT_FEATURE_GATES": "controlplaneconfig",
    "DEFAULT_RUNTIME_CONFIG": "controlplaneconfig",
    "ControlPlaneError": "errors",
    "NodeError": "errors",
    "HostPlugin": "hostplugin",
    "Node": "node",
    "running_node": "node",
    "NODE_BINARIES": "nodebins",
    "default_node_bin_dir": "nodebins",
    "default_node_name": "nodebins",
    "missing_node_binaries": "nodebins",
    "cleanup_stale_nodes": "nodehost",
    "SLEEP_FOREVER": "pods",
    "delete_pods": "pods",
    "pod_manifest": "pods",
    "pod_running": "pods",
    "wait_pods_running": "pods",
    "parse_metrics": "probes",
    "free_port": "processes",
    "wait_until": "processes",
}

__all__ = [
    "DEFAULT_FEATURE_GATES",
    "DEFAULT_RUNTIME_CONFIG",
    "NODE_BINARIES",
    "SLEEP_FOREVER",
    "ApiClient",
    "ApiError",
    "AuditLog",
    "ControlPlane",
    "ControlPlaneError",
    "HostPlugin",
    "Node",
    "NodeError",
    "cleanup_stale_nodes",
    "default_node_bin_dir",
    "default_node_name",
    "delete_pods",
    "free_port",
    "missing_node_binaries",
    "parse_metrics",
    "pod_manifest",
    "pod_running",
    "running_control_plane",
    "running_node",
    "wait_pods_running",
    "wait_until",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
