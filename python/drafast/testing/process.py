"""A plugin as a process of its own, as under a kubelet (benchmarks, crash tests)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drafast.app.drivers import find_kind
from drafast.app.schema import command_line
from drafast.app.settings import RunOptions

FILE_DRIVER = "file.drafast.dev"


def start_plugin(
    driver: str,
    root: Path,
    *extra: str,
    driver_options: Mapping[str, Any] | None = None,
    driver_name: str = "",
    cdi_dir: Path | None = None,
    node_name: str = "node-1",
    cluster: str | None = None,
    **popen: Any,
) -> tuple[subprocess.Popen[Any], Path]:
    """Start ``drafast run <driver>`` (a built-in, an installed entry point or ``module:attr``)
    with every path under ``root`` (node ``node_name``, a ``dir:root/cluster`` store unless
    ``cluster`` says otherwise, no /metrics server), ``driver_options`` (the driver's settings by
    key) and ``extra`` flags (later flags win); return the process and its registration socket
    once that socket accepts connections. Waiting for a connection, not for the file: after a
    ``kill -9`` the dead plugin's socket file is still there."""
    kind = find_kind(driver)
    common = {
        "node_name": node_name,
        "plugin_dir": root / "plugin",
        "registry_dir": root / "registry",
        "cdi_dir": cdi_dir or root / "cdi",
        "cluster": cluster or f"dir:{root / 'cluster'}",
        "bind_address": "",
        "driver_name": driver_name or None,
    }
    cmd = [sys.executable, "-m", "drafast", "run", driver]
    cmd += command_line(RunOptions, common)
    cmd += command_line(kind.settings, driver_options or {})
    proc = subprocess.Popen([*cmd, *extra], **popen)
    reg = root / "registry" / f"{driver_name or kind.default_driver_name}-reg.sock"
    wait_accepting(
        reg, proc, f"drafast run {driver}", stderr_piped=popen.get("stderr") == subprocess.PIPE
    )
    return proc, reg


def start_file_plugin(
    root: Path, *extra: str, cdi_dir: Path | None = None, **popen: Any
) -> tuple[subprocess.Popen[Any], Path]:
    """:func:`start_plugin` for the file driver, its resource files in ``root/files``."""
    return start_plugin(
        "file",
        root,
        *extra,
        driver_options={"resource_dir": root / "files"},
        cdi_dir=cdi_dir,
        **popen,
    )


def wait_accepting(
    path: Path,
    proc: subprocess.Popen[Any],
    what: str,
    *,
    stderr_piped: bool = False,
    within: float = 30.0,
    poll: float = 0.002,
) -> None:
    """Wait until the Unix socket ``path`` accepts connections; kill ``proc`` and raise naming
    ``what`` (and its stderr when piped) if it exits or ``within`` seconds pass first. Polled
    every 2 ms: a benchmark times a plugin's start with it."""
    deadline = time.monotonic() + within
    while not accepts(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            err = proc.communicate()[1] if stderr_piped else ""
            raise RuntimeError(f"{what} did not start (exit {proc.poll()}): {err}")
        time.sleep(poll)


def accepts(path: Path) -> bool:
    """Whether the Unix socket ``path`` accepts a connection now."""
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True
