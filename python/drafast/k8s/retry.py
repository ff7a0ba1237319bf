"""Retry timing: jittered exponential backoff and the server's ``Retry-After``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime


class Backoff:
    """Delays that double from ``initial`` up to ``maximum``, each jittered down to 50-100 %.

    The jitter keeps many clients that failed together (an API server restart) from retrying in
    lockstep; the 50 % floor keeps a retry from coming back almost at once.
    """

    def __init__(
        self, initial: float, maximum: float, *, rng: Callable[[], float] = random.random
    ) -> None:
        self._initial = initial
        self._maximum = maximum
        self._rng = rng
        self._failures = 0

    def next(self) -> float:
        delay = min(self._maximum, self._initial * 2.0 ** min(self._failures, 62))
        self._failures += 1
        return delay * (0.5 + 0.5 * self._rng())

    def reset(self) -> None:
        self._failures = 0


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent
    or unparsable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())
