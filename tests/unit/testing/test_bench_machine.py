"""drafast.testing.bench.machine: how busy the machine is, and waiting (bounded) for it to be
quiet."""

from __future__ import annotations

import time

from drafast.testing.bench import BusyMeter, measure_load, wait_quiet


def test_a_busy_loop_shows_as_busy_cpu() -> None:
    meter = BusyMeter()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:  # one core fully busy
        pass
    assert 0 < meter.busy() <= 1


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
