"""A DRA kubelet plugin as a process of its own (drafast's or any other binary), registered the
way the kubelet registers it, with what a benchmark reads about it: its DRA socket, how long it
took from start to answering GetInfo, its CPU time and its resident memory."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drafast.kubelet.client import KubeletClient
from drafast.testing.bench.loop import BackgroundLoop
from drafast.testing.process import start_plugin, wait_accepting


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far (``/proc/<pid>/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


@dataclass
class PluginProcess:
    """A running plugin: ``proc``, its sockets, and ``ready_seconds`` from the process start to
    the first GetInfo answered on its registration socket."""

    proc: subprocess.Popen[Any]
    registration_socket: Path
    dra_socket: Path
    ready_seconds: float

    @classmethod
    def start_driver(
        cls,
        driver: str,
        root: Path,
        loop: BackgroundLoop,
        *extra: str,
        driver_options: Mapping[str, Any] | None = None,
        driver_name: str = "",
        cdi_dir: Path | None = None,
        node_name: str = "node-1",
        cluster: str | None = None,
    ) -> PluginProcess:
        """``drafast run <driver>`` with every path under ``root`` (see
        :func:`drafast.testing.process.start_plugin`), registered."""
        t0 = time.perf_counter()
        proc, reg = start_plugin(
            driver,
            root,
            *extra,
            driver_options=driver_options,
            driver_name=driver_name,
            cdi_dir=cdi_dir,
            node_name=node_name,
            cluster=cluster,
        )
        return cls._registered(proc, reg, loop, t0)

    @classmethod
    def start_command(
        cls,
        argv: Sequence[str | Path],
        registration_socket: Path,
        loop: BackgroundLoop,
        *,
        env: Mapping[str, str] | None = None,
        within: float = 60.0,
        log: Path | None = None,
    ) -> PluginProcess:
        """Any plugin binary (another project's driver, a Go reference): started with ``argv``
        and ``env`` (added to this process's environment), its output appended to ``log`` (else
        inherited), registered once ``registration_socket`` accepts connections."""
        t0 = time.perf_counter()
        with log.open("ab") if log else contextlib.nullcontext() as out:
            proc = subprocess.Popen(
                [str(a) for a in argv],
                env=os.environ | dict(env or {}),
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
            )
        wait_accepting(registration_socket, proc, str(argv[0]), within=within)
        return cls._registered(proc, registration_socket, loop, t0)

    @classmethod
    def _registered(
        cls, proc: subprocess.Popen[Any], reg: Path, loop: BackgroundLoop, t0: float
    ) -> PluginProcess:
        async def register() -> tuple[float, Path]:
            async with KubeletClient(registration_socket=reg) as kubelet:
                await kubelet.get_info()
                ready = time.perf_counter() - t0
                return ready, (await kubelet.register()).endpoint

        try:
            ready, endpoint = loop.run_until_complete(register())
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        return cls(proc=proc, registration_socket=reg, dra_socket=endpoint, ready_seconds=ready)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        return process_cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        """Resident memory now (``VmRSS`` of ``/proc/<pid>/status``)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for pid {self.pid}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit code (SIGKILL after ``timeout`` seconds)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
