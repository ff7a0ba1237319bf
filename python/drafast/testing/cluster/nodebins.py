"""Where a test node's pieces are, and what this machine calls itself.

``tests/e2e/tools/node-bins.sh`` (``make node-bins``) puts containerd, its shim, ctr, runc,
busybox, the CNI loopback plugin and the pause/testbox image archives under one directory; the
kubelet comes with the control-plane binaries (``tests/e2e/tools/cluster-bins.sh``).
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from drafast.testing.bins import cache_root

__all__ = [
    "NODE_BINARIES",
    "default_node_bin_dir",
    "default_node_name",
    "missing_node_binaries",
]

#: What ``node-bins.sh`` puts into ``<node bin dir>/bin`` (and ``cni/loopback``).
NODE_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "busybox")


def default_node_bin_dir() -> Path:
    """``$DRAFAST_NODE_BIN`` or ``<cache>/node-bins/current`` (made by ``node-bins.sh``)."""
    env = os.environ.get("DRAFAST_NODE_BIN")
    return Path(env) if env else cache_root() / "node-bins" / "current"


def default_node_name() -> str:
    """``vm`` (the machine's name on the test machines), else this host's name, else
    ``localhost`` -- the first that resolves to a loopback address. The API server reaches the
    kubelet (logs, exec) by the Node's Hostname address, and the kubelet listens on 127.0.0.1."""
    for name in ("vm", socket.gethostname(), "localhost"):
        with contextlib.suppress(OSError):
            if socket.gethostbyname(name).startswith("127."):
                return name.lower()
    return "localhost"


def missing_node_binaries(node_bin_dir: Path) -> list[str]:
    """What ``node-bins.sh`` should have produced but is not there."""
    missing = [
        f"bin/{n}" for n in NODE_BINARIES if not os.access(node_bin_dir / "bin" / n, os.X_OK)
    ]
    if not os.access(node_bin_dir / "cni" / "loopback", os.X_OK):
        missing.append("cni/loopback")
    missing += [
        f"images/{n}"
        for n in ("pause.tar", "testbox.tar")
        if not (node_bin_dir / "images" / n).is_file()
    ]
    return missing
