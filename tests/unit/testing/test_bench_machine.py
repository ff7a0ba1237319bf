"""drafast.testing.bench.machine: how busy the machine is, and waiting (bounded) for it to be
quiet."""

from __future__ import annotations

import os
import time

from drafast.testing.bench import BusyMeter, measure_load, process_cpu_seconds, wait_quiet


def test_a_busy_loop_shows_as_busy_cpu() -> None:
    meter = BusyMeter()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:  # one core fully busy
        pass
    assert 0 < meter.busy() <= 1


def test_process_cpu_seconds_counts_this_process_working() -> None:
    start = process_cpu_seconds(os.getpid())
    tick = 1 / os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + 30  # a bound against a hang, not a timing: ~20 ms of work
    while process_cpu_seconds(os.getpid()) < start + 2 * tick:
        assert time.monotonic() < deadline, "a busy loop was never counted as CPU time"
        sum(range(10_000))


def test_load_is_a_fraction_with_the_load_average() -> None:
    load = measure_load(0.2)
    assert 0 <= load.busy <= 1 and load.loadavg1 >= 0 and load.window == 0.2
    assert str(load).startswith("CPU ") and "load average" in str(load)


def test_wait_quiet_gives_up_after_its_bound_and_says_how_busy_it_was() -> None:
    t0 = time.monotonic()
    load = wait_quiet(max_busy=-1.0, within=0.3, window=0.1)  # never quiet enough
    assert load.busy > -1.0 and 0.3 <= load.waited < 2 and time.monotonic() - t0 < 2


def test_wait_quiet_returns_at_once_on_a_quiet_enough_machine() -> None:
    load = wait_quiet(max_busy=1.0, within=60, window=0.1)
    assert load.waited < 1
