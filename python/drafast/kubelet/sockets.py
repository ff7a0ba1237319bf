"""Socket file names and the life cycle of the socket files themselves.

Names follow the Go helper (``kubeletplugin``), including its rolling-update names: with a pod UID
every instance gets its own registration and DRA socket, so that the old pod's clean-up does not
unregister the new one. ``sun_path`` holds 108 bytes including the NUL, hence the hashed fallbacks.
"""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from drafast.config import KubeletSettings
from drafast.errors import SocketError

MAX_SOCKET_PATH_BYTES = 107
"""Longest usable AF_UNIX path: ``sun_path`` is 108 bytes and needs a terminating NUL."""

DRA_SOCKET_NAME = "dra.sock"


@dataclass(frozen=True, slots=True, kw_only=True)
class SocketPaths:
    """Absolute paths of one plugin instance's sockets."""

    registration: Path
    dra: Path


@dataclass(frozen=True, slots=True)
class SocketIdentity:
    """Device and inode of a socket file we bound, so we never unlink someone else's file."""

    dev: int
    ino: int


def path_bytes(path: Path) -> int:
    return len(os.fsencode(path))


def fits(path: Path) -> bool:
    return path_bytes(path) <= MAX_SOCKET_PATH_BYTES


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _h(text: str, size: int) -> str:
    """The first ``size`` bytes of SHA-256 of ``text``, unpadded base64url."""
    import hashlib  # only with a pod UID: not on every plugin's start

    return _b64(hashlib.sha256(text.encode()).digest()[:size])


def registration_socket(registry_dir: Path, driver: str, pod_uid: str | None = None) -> Path:
    """``<driver>-reg.sock``; with a pod UID the first rolling-update name that fits.

    Candidates: ``<driver>-<podUID>-reg.sock``, ``<driver>-<H8>-reg.sock``, ``dra-<H16>-reg.sock``
    (H8/H16: unpadded base64url of the first 8/16 bytes of SHA-256 of the pod UID, resp. of
    driver + NUL + pod UID). If none fits, the last is returned anyway (like the Go helper);
    :func:`check_length` then rejects it.
    """
    registry_dir = registry_dir.absolute()
    if pod_uid is None:
        return registry_dir / f"{driver}-reg.sock"
    h8 = _h(pod_uid, 8)
    h16 = _h(f"{driver}\0{pod_uid}", 16)
    candidates = [
        registry_dir / f"{driver}-{pod_uid}-reg.sock",
        registry_dir / f"{driver}-{h8}-reg.sock",
        registry_dir / f"dra-{h16}-reg.sock",
    ]
    return next((p for p in candidates if fits(p)), candidates[-1])


def dra_socket(plugin_dir: Path, pod_uid: str | None = None) -> Path:
    """``<plugin_dir>/dra.sock``, or for rolling updates ``dra-<podUID>.sock`` and, when that
    does not fit, ``dra-<H8>.sock`` (H8 as for the registration socket).

    The Go helper has no fallback here and fails; the kubelet learns the name from GetInfo, so
    any unique name does, and a long kubelet root dir (46 bytes left after the UID) still works.
    """
    plugin_dir = plugin_dir.absolute()
    if pod_uid is None:
        return plugin_dir / DRA_SOCKET_NAME
    full = plugin_dir / f"dra-{pod_uid}.sock"
    if fits(full):
        return full
    return plugin_dir / f"dra-{_h(pod_uid, 8)}.sock"


def check_length(path: Path, what: str) -> None:
    if not fits(path):
        raise SocketError(
            f"{what} socket path {path} is {path_bytes(path)} bytes long;"
            f" the limit is {MAX_SOCKET_PATH_BYTES} (use a shorter directory)"
        )


def socket_paths(settings: KubeletSettings) -> SocketPaths:
    """Both socket paths for these settings (not checked; see :func:`check_paths`)."""
    return SocketPaths(
        registration=registration_socket(
            settings.registry_dir, settings.driver_name, settings.pod_uid
        ),
        dra=dra_socket(settings.plugin_dir, settings.pod_uid),
    )


def check_paths(paths: SocketPaths) -> None:
    """Refuse paths that cannot be bound, and create missing directories.

    Creating them is a no-op on a node (the kubelet makes its registry and the DaemonSet mounts
    the plugin dir) but lets offline mode and tests start from an empty directory. A registry
    directory nobody watches shows up as a plugin that never gets registered.
    """
    checked = (("DRA", paths.dra), ("registration", paths.registration))
    for what, path in checked:
        check_length(path, what)
    for what, path in checked:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SocketError(f"{what} socket directory {path.parent}: {err}") from err


def remove_stale(path: Path) -> None:
    """Remove a socket file left behind by an earlier run; refuse to touch anything else."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketError(f"{path} exists and is not a socket; refusing to remove it")
    path.unlink(missing_ok=True)


def identity(path: Path) -> SocketIdentity | None:
    """What :func:`remove_own` later compares against; None if the file is missing."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return SocketIdentity(st.st_dev, st.st_ino)


def remove_own(path: Path, ours: SocketIdentity | None) -> bool:
    """Unlink ``path`` only if it is still the socket we bound (a successor may have replaced
    it). Returns True if a file was removed."""
    if ours is None:
        return False
    current = identity(path)
    if current != ours:
        return False
    path.unlink(missing_ok=True)
    return True
