"""The one retry delay policy."""

from __future__ import annotations

from drafast.runtime.backoff import Backoff


def test_delays_double_up_to_the_cap_jittered_into_half_to_full() -> None:
    low = Backoff(1.0, 8.0, rng=lambda: 0.0)
    high = Backoff(1.0, 8.0, rng=lambda: 1.0)
    assert [low.delay(n) for n in (0, 1, 2, 3, 4, 5, 10**6)] == [0.5, 0.5, 1, 2, 4, 4, 4]
    assert [high.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]


def test_next_counts_and_reset_starts_over() -> None:
    b = Backoff(0.5, 30.0, rng=lambda: 1.0)
    assert [b.next() for _ in range(3)] == [0.5, 1.0, 2.0]
    assert b.failures == 3
    b.reset()
    assert (b.failures, b.next()) == (0, 0.5)


async def test_sleep_waits_the_next_delay_on_the_injected_sleep() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    b = Backoff(0.25, 1.0, rng=lambda: 1.0, sleep=fake_sleep)
    assert [await b.sleep() for _ in range(4)] == [0.25, 0.5, 1.0, 1.0]
    assert slept == [0.25, 0.5, 1.0, 1.0]
