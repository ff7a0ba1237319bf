"""Backoff timing and Retry-After parsing."""

from __future__ import annotations

import pytest

from drafast.k8s.retry import parse_retry_after
from drafast.runtime.backoff import Backoff


def test_backoff_doubles_up_to_the_cap_with_jitter_between_half_and_full() -> None:
    low = Backoff(0.25, 2.0, rng=lambda: 0.0)
    assert [low.next() for _ in range(6)] == [0.125, 0.25, 0.5, 1.0, 1.0, 1.0]
    high = Backoff(0.25, 2.0, rng=lambda: 0.999999)
    assert [round(high.next(), 3) for _ in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    high.reset()
    assert round(high.next(), 3) == 0.25


def test_backoff_survives_many_failures() -> None:
    b = Backoff(1.0, 8.0, rng=lambda: 1.0)
    for _ in range(2000):
        b.next()
    assert b.next() == 8.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 0 ", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-1", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),  # 10 s after "now" below
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: go now
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = 1445412480.0  # 2015-10-21T07:28:00Z
    assert parse_retry_after(header, now=lambda: now) == seconds
