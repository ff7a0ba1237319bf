"""A drafast kubelet plugin run as a host process against a test :class:`Node`, the way a
DaemonSet pod would run it, but without an image: the plugin under test is this checkout."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drafast.app.drivers import find_kind
from drafast.app.schema import command_line
from drafast.app.settings import RunOptions
from drafast.testing.cluster.errors import NodeError
from drafast.testing.cluster.node import Node
from drafast.testing.cluster.probes import parse_metrics, probe
from drafast.testing.cluster.processes import free_port, start_logged, tail_file

__all__ = ["HostPlugin"]


@dataclass
class HostPlugin:
    """A drafast kubelet plugin run as a host process against a :class:`Node`.

    ``argv`` is the command without the node-specific flags; :meth:`start` adds ``--node-name``,
    ``--registry-dir``, ``--plugin-dir``, ``--cdi-dir``, ``--cluster kube``, ``--kubeconfig`` and
    ``--bind-address`` (for ``/readyz`` and ``/metrics``).
    """

    node: Node
    driver_name: str
    argv: list[str]
    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _proc_box: list[subprocess.Popen[bytes]] = field(default_factory=list)
    """The live process, for the finalizer (which must not hold the HostPlugin)."""

    @classmethod
    def start(
        cls,
        node: Node,
        workdir: Path,
        *,
        driver: str = "file",
        driver_name: str = "file.drafast.dev",
        argv: Sequence[str] | None = None,
        settings: Mapping[str, object] | None = None,
        common: Mapping[str, object] | None = None,
        extra: Sequence[str] = (),
        wait_registered: float = 60.0,
    ) -> HostPlugin:
        """Start ``python -m drafast run <driver>`` (or ``argv``) and wait until the kubelet
        registered it (our ``/readyz``: NotifyRegistrationStatus(true) seen + slices published).
        ``settings`` are the driver's own (by key, e.g. ``{"resource_dir": path}``) and
        ``common`` further common ones (``{"log_level": "warning"}``): both become flags
        through the settings schema; ``extra`` is appended as it is."""
        base = list(argv) if argv is not None else [sys.executable, "-m", "drafast", "run", driver]
        flags = command_line(RunOptions, {"driver_name": driver_name, **(common or {})})
        flags += command_line(find_kind(driver).settings, settings or {})
        plugin = cls(
            node=node,
            driver_name=driver_name,
            argv=[*base, *flags, *extra],
            workdir=workdir,
            port=free_port(),
        )
        weakref.finalize(plugin, _kill_proc, plugin._proc_box)
        plugin.launch()
        if wait_registered:
            try:
                plugin.wait_ready(wait_registered)
            except BaseException:
                plugin.stop(signal.SIGKILL)
                raise
        return plugin

    @property
    def plugin_dir(self) -> Path:
        return self.node.plugins_dir / self.driver_name

    @property
    def registration_socket(self) -> Path:
        return self.node.registry_dir / f"{self.driver_name}-reg.sock"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.driver_name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        n = self.node
        where = {
            "node_name": n.name,
            "registry_dir": n.registry_dir,
            "plugin_dir": self.plugin_dir,
            "cdi_dir": n.cdi_dir,
            "cluster": "kube",
            "kubeconfig": n.cp.kubeconfig,
            "bind_address": f"127.0.0.1:{self.port}",
        }
        return [*self.argv, *command_line(RunOptions, where)]

    def launch(self) -> None:
        """Start the process (no waiting)."""
        if self.running():
            raise RuntimeError(f"{self.driver_name} plugin already running")
        self.proc = start_logged(self.command(), self.log)
        self._proc_box[:] = [self.proc]
        self.starts += 1

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> tuple[bool, str]:
        code, body = probe(self.url + "/readyz")
        return code == 200, body.strip()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until ``/readyz`` says ok: registered by the kubelet and slices published."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise NodeError(f"{self.driver_name} plugin exited:\n{self.tail()}")
            ok, detail = self.ready()
            if ok:
                return
            if time.monotonic() > deadline:
                raise NodeError(
                    f"{self.driver_name} plugin not ready after {timeout:.0f}s ({detail}):\n"
                    f"{self.tail()}"
                )
            time.sleep(0.1)

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        code, body = probe(self.url + "/metrics")
        if code != 200:
            raise NodeError(f"{self.driver_name} /metrics: HTTP {code}: {body[:300]}")
        return parse_metrics(body)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Send ``sig`` (SIGTERM: clean shutdown; SIGKILL: a crash); return the exit code."""
        if self.proc is None:
            return None
        proc = self.proc
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait(10)
        self.proc = None
        self._proc_box.clear()
        return code

    def restart(self, sig: signal.Signals = signal.SIGTERM, wait_registered: float = 60.0) -> None:
        self.stop(sig)
        self.launch()
        if wait_registered:
            self.wait_ready(wait_registered)

    def tail(self, lines: int = 40) -> str:
        return tail_file(self.log, lines)


def _kill_proc(box: list[subprocess.Popen[bytes]]) -> None:
    for proc in box:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(10)
