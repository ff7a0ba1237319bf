"""How busy the machine is, so a comparison is made (or reported) on a quiet one: the share of
CPU time not idle across all cores (``/proc/stat``) over a short window, and the load average."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Load:
    """``busy``: the fraction (0..1) of all cores' time spent not idle over ``window`` seconds;
    ``loadavg1``: the 1-minute load average then; ``waited``: seconds spent waiting for it."""

    busy: float
    loadavg1: float
    window: float
    waited: float = 0.0

    def __str__(self) -> str:
        return f"CPU {self.busy:.0%} busy over {self.window:g} s, load average {self.loadavg1:.2f}"


def _cpu_times() -> tuple[int, int]:
    """(idle + iowait, total) jiffies over all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])  # user..steal; guest is inside user


class BusyMeter:
    """The share of all cores' time not idle between its creation and :meth:`busy`."""

    def __init__(self) -> None:
        self._idle, self._total = _cpu_times()

    def busy(self) -> float:
        idle, total = _cpu_times()
        return 1 - (idle - self._idle) / max(1, total - self._total)


def measure_load(window: float = 2.0) -> Load:
    """How busy every core was over the next ``window`` seconds."""
    idle0, total0 = _cpu_times()
    time.sleep(window)
    idle1, total1 = _cpu_times()
    total = max(1, total1 - total0)
    return Load(busy=1 - (idle1 - idle0) / total, loadavg1=os.getloadavg()[0], window=window)


def wait_quiet(max_busy: float = 0.10, within: float = 120.0, window: float = 2.0) -> Load:
    """Wait (at most ``within`` seconds) for a ``window`` with at most ``max_busy`` of the CPU
    busy; the last measurement either way (``busy > max_busy`` then says it never got quiet)."""
    start = time.monotonic()
    while True:
        load = measure_load(window)
        waited = time.monotonic() - start
        if load.busy <= max_busy or waited >= within:
            return Load(load.busy, load.loadavg1, load.window, waited)
