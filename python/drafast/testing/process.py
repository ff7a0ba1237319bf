"""``drafast run file`` as a process of its own, as under a kubelet (benchmarks, crash tests)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from drafast.app.schema import command_line
from drafast.app.settings import RunOptions
from drafast.drivers.file import FileDriverSettings

FILE_DRIVER = "file.drafast.dev"


def start_file_plugin(
    root: Path, *extra: str, cdi_dir: Path | None = None, **popen: Any
) -> tuple[subprocess.Popen[Any], Path]:
    """Start the file driver in ``dir:`` mode with every path under ``root`` (resource files in
    ``root/files``, node ``node-1``, no /metrics server) plus ``extra`` flags; return the process
    and its registration socket once that socket accepts connections. Waiting for a connection,
    not for the file: after a ``kill -9`` the dead plugin's socket file is still there."""
    common = {
        "node_name": "node-1",
        "plugin_dir": root / "plugin",
        "registry_dir": root / "registry",
        "cdi_dir": cdi_dir or root / "cdi",
        "cluster": f"dir:{root / 'cluster'}",
        "bind_address": "",
    }
    cmd = [sys.executable, "-m", "drafast", "run", "file"]
    cmd += command_line(RunOptions, common)
    cmd += command_line(FileDriverSettings, {"resource_dir": root / "files"})
    proc = subprocess.Popen([*cmd, *extra], **popen)
    reg = root / "registry" / f"{FILE_DRIVER}-reg.sock"
    deadline = time.monotonic() + 30
    while not _accepts(reg):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            err = proc.communicate()[1] if popen.get("stderr") == subprocess.PIPE else ""
            raise RuntimeError(f"drafast run file did not start (exit {proc.poll()}): {err}")
        time.sleep(0.02)
    return proc, reg


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True
