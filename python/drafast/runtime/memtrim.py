"""Give the heap back to the system once a burst of kubelet calls is over.

A burst (64 claims at once, a node draining) grows glibc's heap and grpc's per-thread arenas;
glibc keeps the freed pages, so a DaemonSet's RSS stays at its peak for good and memory limits
have to be sized for it. ``malloc_trim(0)`` returns the free pages of every arena. It walks the
heap and costs a millisecond or two, and trimming in the middle of a burst would only fault the
same pages back in, so it runs once per burst: after ``idle_seconds`` without a new call.

Since the trimmer gives memory back, glibc need not do it on every ``free``: its defaults map
every block over 128 KiB with ``mmap`` and hand the top of the heap back once 128 KiB of it is
free. Every TLS read of the API client allocates such a block (uvloop reads up to 256 KiB and
shrinks the result), so each claim GET paid an ``mmap``, an ``mremap``, page faults and a
``munmap``: measured, ~12 % of the client's CPU per GET. With the trimmer on, blocks up to
``MMAP_THRESHOLD`` come from the heap and up to ``TRIM_THRESHOLD`` of free top is kept until the
burst is over.

Only glibc has ``malloc_trim`` and these ``mallopt`` knobs; elsewhere (musl, macOS) the trimmer
does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

TICKS_PER_IDLE: Final = 4
"""How often, per idle period, the call counter is looked at."""
MMAP_THRESHOLD: Final = 1 << 20
TRIM_THRESHOLD: Final = 8 << 20
_M_TRIM_THRESHOLD: Final = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD: Final = -3


def tune_glibc_heap() -> Callable[[int], int] | None:
    """Raise glibc's mmap and trim thresholds (see the module docstring) and return its
    ``malloc_trim``; None where the C library has neither."""
    import ctypes  # here, not at start: the plugin serves first

    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: its C library's
        trim, mallopt = libc.malloc_trim, libc.mallopt
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if not (
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    ):
        log.info("mallopt refused the heap thresholds: glibc's defaults stay")
    return trim


class MemoryTrimmer:
    """Trims the heap after ``idle_seconds`` with no change in ``calls()`` (a counter of the
    calls served), once per burst. ``trimmed`` counts the trims."""

    name = "memory-trim"

    def __init__(
        self,
        calls: Callable[[], int],
        idle_seconds: float,
        *,
        trim: Callable[[int], int] | None = None,
    ) -> None:
        self._calls = calls
        self._idle = idle_seconds
        self._trim = trim
        self.trimmed = 0

    async def start(self) -> None:
        return None

    async def run(self) -> None:
        if self._idle <= 0:
            return
        tick = self._idle / TICKS_PER_IDLE
        if self._trim is None:
            await asyncio.sleep(tick)  # after the start: the kubelet's first calls come first
            self._trim = tune_glibc_heap()
        if self._trim is None:
            log.info("no malloc_trim in this C library: the heap is not trimmed after bursts")
            return
        seen = self._calls()
        quiet_ticks = 0
        pending = False  # calls came since the last trim
        while True:
            await asyncio.sleep(tick)
            now = self._calls()
            if now != seen:
                seen, quiet_ticks, pending = now, 0, True
                continue
            quiet_ticks += 1
            if pending and quiet_ticks >= TICKS_PER_IDLE:
                pending = False
                self._trim(0)
                self.trimmed += 1

    async def stop(self) -> None:
        return None
