"""Where the real Kubernetes binaries for the e2e tests live.

``tests/e2e/tools/cluster-bins.sh`` (``make cluster-bins``) builds/fetches them into
``${DRAFAST_CACHE:-~/.cache/drafast}/k8s-v<version>/bin`` and writes a ``.stamp`` file there when
the set is complete. ``DRAFAST_K8S_BIN`` overrides the location.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = [
    "CONTROL_PLANE_BINARIES",
    "K8S_VERSION",
    "cache_root",
    "default_bin_dir",
    "missing_binaries",
]

#: The version ``cluster-bins.sh`` builds by default (its fallback is keyed by its own version).
K8S_VERSION = "1.37.2"

#: What :class:`drafast.testing.controlplane.ControlPlane` needs (kubelet is only for node tests).
CONTROL_PLANE_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-scheduler",
    "kube-controller-manager",
    "kubectl",
)


def cache_root() -> Path:
    """``$DRAFAST_CACHE`` or ``~/.cache/drafast``."""
    env = os.environ.get("DRAFAST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "drafast"


def _version_key(path: Path) -> tuple[int, ...]:
    m = re.fullmatch(r"k8s-v(\d+)\.(\d+)\.(\d+)", path.name)
    return tuple(int(x) for x in m.groups()) if m else (0,)


def default_bin_dir() -> Path:
    """``$DRAFAST_K8S_BIN``, else the default version's cache dir, else the newest complete one.

    The returned directory may not exist (then :func:`missing_binaries` lists everything).
    """
    env = os.environ.get("DRAFAST_K8S_BIN")
    if env:
        return Path(env)
    root = cache_root()
    preferred = root / f"k8s-v{K8S_VERSION}" / "bin"
    if (preferred / ".stamp").is_file():
        return preferred
    built = [d for d in root.glob("k8s-v*") if (d / "bin" / ".stamp").is_file()]
    if built:
        return max(built, key=_version_key) / "bin"
    return preferred


def missing_binaries(bin_dir: Path, names: tuple[str, ...] = CONTROL_PLANE_BINARIES) -> list[str]:
    """Names in ``names`` that are not executable files in ``bin_dir``."""
    return [n for n in names if not os.access(bin_dir / n, os.X_OK)]
