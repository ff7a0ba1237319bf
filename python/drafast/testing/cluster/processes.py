"""Child processes of the harness: each in its own process group, logging to a file.

Everything a harness starts must go away even if the caller forgets to stop it (a finalizer or
``atexit`` guard calls :func:`kill_components`) and -- when started from the main thread -- even
if Python itself is killed (``setpriv --pdeathsig``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Component",
    "die_with_parent_prefix",
    "free_port",
    "free_ports",
    "kill_components",
    "start_logged",
    "tail_file",
    "wait_until",
]


def die_with_parent_prefix() -> list[str]:
    """``setpriv --pdeathsig KILL`` (util-linux) when safe, so children die if Python is killed.

    The parent-death signal fires when the *thread* that forked the child exits, so it is only
    used from the main thread (a child started from a worker thread would die with that thread).
    """
    if threading.current_thread() is not threading.main_thread():
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def start_logged(
    argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session (so its whole group can be killed), stdout and stderr
    appended to ``log`` after a ``==> starting`` line; ``env`` None inherits ours."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n==> starting {' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(
            [*die_with_parent_prefix(), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=None if env is None else dict(env),
        )


def tail_file(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log ("" if it cannot be read): for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Component:
    """One child process in its own session/process group, logging to ``log``."""

    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    pgid: int = 0
    env: Mapping[str, str] | None = None
    """The child's environment; None: ours."""

    def start(self) -> None:
        self.proc = start_logged(self.argv, self.log, self.env)
        self.pgid = self.proc.pid  # start_new_session: pgid == pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole group, SIGKILL what is left after ``timeout``; reap the child."""
        if self.proc is None:
            return
        _kill_group(self.pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(self.pgid, signal.SIGKILL)
            self.proc.wait(10)
        # Leftover grandchildren (none expected) share the group: make sure they go too.
        deadline = time.monotonic() + 5
        while _group_alive(self.pgid) and time.monotonic() < deadline:
            _kill_group(self.pgid, signal.SIGKILL)
            time.sleep(0.05)
        self.proc = None

    def tail(self, lines: int = 40) -> str:
        return tail_file(self.log, lines)


def kill_components(components: list[Component]) -> None:
    """SIGKILL every group, last started first. For finalizer/atexit guards, which must not
    reference the harness object itself (it could never be garbage-collected)."""
    for c in reversed(components):
        if c.proc is not None:
            _kill_group(c.pgid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                c.proc.wait(10)
            c.proc = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(n: int) -> list[int]:
    """``n`` distinct :func:`free_port` answers."""
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


def wait_until(
    what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2
) -> Any:
    """Poll ``check`` until it returns something truthy; raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)
