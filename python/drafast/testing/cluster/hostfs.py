"""Mounts and cgroup directories of this machine, as a test node leaves them behind.

Module functions, not methods: a finalizer that cleans up after a node must not hold the node.
Every function refuses paths that are not clearly the harness's own, because a wrong argument
here would unmount or kill half of the host.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "CGROUP_FS",
    "CGROUP_PREFIX",
    "cgroup_dirs",
    "cgroup_pids",
    "mount_point_paths",
    "mounts_under",
    "remove_cgroup_tree",
    "unmount_all_under",
]

CGROUP_FS = Path("/sys/fs/cgroup")
#: Name prefix of a node's cgroup root (``/drafast-node-<id>``).
CGROUP_PREFIX = "drafast-node-"

MNT_DETACH = 2


def _umount(path: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.umount2(path.encode(), 0) == 0:
        return
    if libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # not a mount point (any more)
            raise OSError(err, f"umount {path}: {os.strerror(err)}")


def _unescape_mountinfo(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def mount_point_paths() -> list[str]:
    """Every mount point of this process's mount namespace (from /proc/self/mountinfo)."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            parts = line.split(" ")
            if len(parts) > 4:
                found.append(_unescape_mountinfo(parts[4]))
    return found


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (from /proc/self/mountinfo), deepest first."""
    prefix = str(root).rstrip("/") + "/"
    found = [mp for mp in mount_point_paths() if mp == str(root) or mp.startswith(prefix)]
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def unmount_all_under(root: Path) -> list[str]:
    """Unmount everything below ``root`` (several passes: stacked mounts); return what's left."""
    if len(root.parts) < 3 or not root.is_absolute():
        raise ValueError(f"refusing to unmount everything under {root}")
    for _ in range(5):
        left = mounts_under(root)
        if not left:
            return []
        for mp in left:
            with contextlib.suppress(OSError):
                _umount(mp)
    return mounts_under(root)


def cgroup_dirs(name: str) -> list[Path]:
    """``/sys/fs/cgroup/<hierarchy>/<name>`` for every mounted hierarchy (v1 and unified).

    Only ever one of ours: anything else (an empty name!) would make the caller kill the host.
    """
    if not name.startswith(CGROUP_PREFIX) or "/" in name or len(name) <= len(CGROUP_PREFIX):
        return []
    out = []
    with contextlib.suppress(OSError):
        for h in sorted(CGROUP_FS.iterdir()):
            if (h / "cgroup.procs").exists():
                out.append(h / name)
    return out


def cgroup_pids(dirs: Sequence[Path]) -> set[int]:
    """Every process in these cgroups or below."""
    pids: set[int] = set()
    for d in dirs:
        if not d.is_dir():
            continue
        for procs in d.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(x) for x in procs.read_text().split())
    return pids


def remove_cgroup_tree(d: Path) -> None:
    """Remove a cgroup directory tree bottom-up (cgroup dirs go with rmdir only)."""
    if not d.is_dir():
        return
    subdirs = sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
    for p in [*subdirs, d]:
        with contextlib.suppress(OSError):
            p.rmdir()
