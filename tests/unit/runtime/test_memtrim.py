"""The heap is trimmed once per burst of calls, after the calls stop, never during one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import pytest

from drafast.runtime.memtrim import MemoryTrimmer, tune_glibc_heap

IDLE = 0.04


class Calls:
    def __init__(self) -> None:
        self.n = 0
        self.trims: list[int] = []  # the counter's value at each trim

    def trim(self, pad: int) -> int:
        assert pad == 0
        self.trims.append(self.n)
        return 1


@contextlib.asynccontextmanager
async def running(trimmer: MemoryTrimmer) -> AsyncIterator[None]:
    task = asyncio.create_task(trimmer.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def burst(calls: Calls, periods: float) -> None:
    """A call every quarter tick for ``periods`` idle periods."""
    loop = asyncio.get_running_loop()
    end = loop.time() + periods * IDLE
    while loop.time() < end:
        calls.n += 1
        await asyncio.sleep(IDLE / 16)


async def until(cond: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110 (the trimmer keeps a counter, not an event)
            await asyncio.sleep(IDLE / 4)


async def test_trims_once_after_each_burst_and_not_while_it_lasts() -> None:
    calls = Calls()
    trimmer = MemoryTrimmer(lambda: calls.n, IDLE, trim=calls.trim)
    async with running(trimmer):
        await burst(calls, 10)
        first = calls.n
        await until(lambda: trimmer.trimmed == 1)
        assert calls.trims == [first]  # after the last call of the burst, not inside it
        await asyncio.sleep(5 * IDLE)
        assert trimmer.trimmed == 1  # idle: nothing new to give back
        await burst(calls, 3)
        await until(lambda: trimmer.trimmed == 2)
        assert calls.trims == [first, calls.n]


async def test_no_calls_no_trim() -> None:
    calls = Calls()
    trimmer = MemoryTrimmer(lambda: calls.n, IDLE, trim=calls.trim)
    async with running(trimmer):
        await asyncio.sleep(8 * IDLE)
    assert calls.trims == []


async def test_zero_idle_seconds_turns_it_off() -> None:
    calls = Calls()
    trimmer = MemoryTrimmer(lambda: calls.n, 0.0, trim=calls.trim)
    await asyncio.wait_for(trimmer.run(), 1.0)  # returns at once: nothing to run
    assert calls.trims == []


async def test_a_c_library_without_malloc_trim_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("drafast.runtime.memtrim.tune_glibc_heap", lambda: None)
    caplog.set_level(logging.INFO, logger="drafast.runtime.memtrim")
    trimmer = MemoryTrimmer(lambda: 0, IDLE)
    await asyncio.wait_for(trimmer.run(), 1.0)
    assert "no malloc_trim" in caplog.text


def test_glibc_trim_is_found_and_runs_here() -> None:
    trim = tune_glibc_heap()  # this machine is Linux with glibc
    assert trim is not None
    assert trim(0) in (0, 1)  # 1: memory was given back, 0: there was none to give


_PROBE = """
import ctypes, sys
from drafast.runtime.memtrim import MMAP_THRESHOLD, tune_glibc_heap

class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
if sys.argv[1] == "tuned":
    assert tune_glibc_heap() is not None
mapped = libc.mallinfo2().hblks
block = bytearray(MMAP_THRESHOLD // 2)  # like a TLS read: over glibc's default of 128 KiB
print(libc.mallinfo2().hblks - mapped)
"""


@pytest.mark.parametrize(("tuning", "mapped"), [("default", "1"), ("tuned", "0")])
def test_blocks_like_a_tls_read_come_from_the_heap_once_tuned(tuning: str, mapped: str) -> None:
    """In a fresh process (a small heap): glibc maps the 512 KiB block by default, and takes it
    from the heap once the trimmer has raised the threshold."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, tuning], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == mapped, out
