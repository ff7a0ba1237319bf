"""Settings objects handed to components through their constructors.

Frozen, documented, with defaults. They are *built* only in :mod:`drafast.app` (from flags, env
and an optional YAML file); every other module just receives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drafast.types import DriverName, NodeName

KUBELET_PLUGINS_DIR = Path("/var/lib/kubelet/plugins")
KUBELET_REGISTRY_DIR = Path("/var/lib/kubelet/plugins_registry")
CDI_DIR = Path("/var/run/cdi")


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginSettings:
    """How the plugin core treats claims."""

    driver_name: DriverName
    node_name: NodeName
    state_dir: Path
    """Where the claim checkpoint lives (the plugin data dir; must survive reboots)."""
    cdi_dir: Path = CDI_DIR
    """Where per-claim CDI specs are written (tmpfs on most nodes; re-materialized on prepare)."""
    serialize: bool = False
    """Run at most one prepare/unprepare call at a time (the Go helper's default)."""
    max_claims_per_call: int = 1024
    """Larger requests are refused whole: no kubelet sends that many claims for one pod."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeletSettings:
    """Where and how the gRPC services are served."""

    driver_name: DriverName
    plugin_dir: Path
    """Holds the DRA socket (``dra.sock``); normally ``/var/lib/kubelet/plugins/<driver>``."""
    registry_dir: Path = KUBELET_REGISTRY_DIR
    pod_uid: str | None = None
    """Set for rolling updates: socket names then carry the pod UID (kubelet >= 1.33)."""
    serve_v1beta1: bool = True
    health_resend_seconds: float = 10.0
    """The kubelet marks devices Unknown after 30 s without news: resend the list this often."""
    shutdown_grace_seconds: float = 5.0
