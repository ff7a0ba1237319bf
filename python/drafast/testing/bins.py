"""Where the real Kubernetes binaries for the e2e tests live.

``tests/e2e/tools/cluster-bins.sh`` (``make cluster-bins``) builds/fetches them into
``${DRAFAST_CACHE:-~/.cache/drafast}/k8s-v<version>/bin``, writes a ``.stamp`` file there when the
set is complete and points ``<cache>/k8s-current`` at that ``k8s-v<version>``. So the version is
decided once, by the script (from ``tools/versions.env`` or its ``K8S_VERSION`` override), and
this module follows the link instead of spelling a version of its own. ``DRAFAST_K8S_BIN``
overrides the location.

``helm`` is built the same way by ``tests/e2e/tools/helm-bin.sh`` (``make helm-bin``), into
``<cache>/helm-v<version>/bin/helm`` with ``<cache>/helm-current`` pointing at it; see
:func:`helm_binary` (``DRAFAST_HELM`` overrides).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = [
    "CONTROL_PLANE_BINARIES",
    "HELM_VERSION",
    "K8S_VERSION",
    "cache_root",
    "default_bin_dir",
    "helm_binary",
    "missing_binaries",
    "pinned_versions",
]

#: What :class:`drafast.testing.cluster.ControlPlane` needs (kubelet is only for node tests).
CONTROL_PLANE_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-scheduler",
    "kube-controller-manager",
    "kubectl",
)

#: ``tools/versions.env`` of the source checkout this module runs from (absent when installed).
_VERSIONS_FILE = Path(__file__).resolve().parents[3] / "tools" / "versions.env"
_PIN = re.compile(r"([A-Z][A-Z0-9_]*)=(\S*)")


def pinned_versions(path: Path = _VERSIONS_FILE) -> dict[str, str]:
    """The ``KEY=value`` pins of ``tools/versions.env``; empty if there is no such file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    pins: dict[str, str] = {}
    for line in text.splitlines():
        m = _PIN.fullmatch(line.strip())
        if m:
            pins[m[1]] = m[2]
    return pins


#: The version ``cluster-bins.sh`` builds by default (``tools/versions.env``), or ``None`` outside
#: a source checkout. Only a tie-breaker: ``<cache>/k8s-current`` names what was actually built.
K8S_VERSION: str | None = pinned_versions().get("K8S_VERSION")

#: The helm version ``helm-bin.sh`` builds by default, or ``None`` outside a source checkout.
HELM_VERSION: str | None = pinned_versions().get("HELM_VERSION")


def cache_root() -> Path:
    """``$DRAFAST_CACHE`` or ``~/.cache/drafast``."""
    env = os.environ.get("DRAFAST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "drafast"


def _version_key(path: Path) -> tuple[int, ...]:
    m = re.fullmatch(r"k8s-v(\d+)\.(\d+)\.(\d+)", path.name)
    return tuple(int(x) for x in m.groups()) if m else (0,)


def default_bin_dir() -> Path:
    """The Kubernetes bin directory the e2e tests use.

    In order: ``$DRAFAST_K8S_BIN``; ``<cache>/k8s-current/bin`` (what ``cluster-bins.sh`` last
    completed); the pinned version's dir; the newest complete ``k8s-v*``. A dir counts as complete
    when its ``.stamp`` exists. The returned directory may not exist (then
    :func:`missing_binaries` lists everything).
    """
    env = os.environ.get("DRAFAST_K8S_BIN")
    if env:
        return Path(env)
    root = cache_root()
    current = root / "k8s-current" / "bin"
    if (current / ".stamp").is_file():
        return current
    pinned = root / f"k8s-v{K8S_VERSION}" / "bin" if K8S_VERSION else current
    if (pinned / ".stamp").is_file():
        return pinned
    built = [d for d in root.glob("k8s-v*") if (d / "bin" / ".stamp").is_file()]
    if built:
        return max(built, key=_version_key) / "bin"
    return pinned


def missing_binaries(bin_dir: Path, names: tuple[str, ...] = CONTROL_PLANE_BINARIES) -> list[str]:
    """Names in ``names`` that are not executable files in ``bin_dir``."""
    return [n for n in names if not os.access(bin_dir / n, os.X_OK)]


def helm_binary() -> Path | None:
    """The ``helm`` the e2e tests use, or ``None`` if there is none.

    In order: ``$DRAFAST_HELM`` (when set, the answer: ``None`` if it is not an executable file,
    never a silent fall-back to another helm); ``<cache>/helm-current/bin/helm`` (what
    ``helm-bin.sh`` last completed); the pinned version's ``<cache>/helm-v<version>/bin/helm``. A
    cached helm counts only when its dir's ``.stamp`` exists (the script writes it last).
    """
    env = os.environ.get("DRAFAST_HELM")
    if env:
        path = Path(env)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    root = cache_root()
    dirs = [root / "helm-current" / "bin"]
    if HELM_VERSION:
        dirs.append(root / f"helm-v{HELM_VERSION}" / "bin")
    for d in dirs:
        helm = d / "helm"
        if (d / ".stamp").is_file() and os.access(helm, os.X_OK):
            return helm
    return None
