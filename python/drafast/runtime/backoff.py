"""The one retry delay policy: exponential, capped, jittered; used by every loop that retries.

Jitter matters: every node's driver retries against the same API server, and after an outage
thousands of synchronized retries would hit it at the same instant. Each delay is drawn from
``[d/2, d]`` with ``d = initial * 2^(n-1)`` capped at ``cap``; the 50 % floor keeps a retry from
coming back almost at once.

Two ways to use it: :meth:`Backoff.delay` is pure (the caller counts failures, e.g. a loop that
also knows when it succeeded), :meth:`Backoff.next`/:meth:`Backoff.reset` count for the caller,
and :meth:`Backoff.sleep` waits the next delay. ``rng`` and ``sleep`` are injectable for tests.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

# 2**62 * initial overflows no float; beyond ~60 doublings every delay is the cap anyway.
_MAX_DOUBLINGS = 62


class Backoff:
    """Retry delays in seconds; ``failures`` counts from 1 (the delay after the first failure)."""

    __slots__ = ("_failures", "_rng", "_sleep", "cap", "initial")

    def __init__(
        self,
        initial: float = 0.5,
        cap: float = 30.0,
        *,
        rng: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.initial = initial
        """Delay after the first failure (before jitter)."""
        self.cap = cap
        """Longest delay (bounds how long recovery lags behind an outage's end)."""
        self._rng = rng
        self._sleep = sleep
        self._failures = 0

    def delay(self, failures: int) -> float:
        """Delay before retry number ``failures`` (1-based), jittered into ``[d/2, d]``."""
        doublings = min(max(failures - 1, 0), _MAX_DOUBLINGS)
        full = min(self.cap, self.initial * 2.0**doublings)
        return full / 2 + self._rng() * full / 2

    @property
    def failures(self) -> int:
        """Failures counted by :meth:`next` since the last :meth:`reset`."""
        return self._failures

    def next(self) -> float:
        """Count one more failure and return the delay before the next attempt."""
        self._failures += 1
        return self.delay(self._failures)

    def reset(self) -> None:
        """A success: the next failure starts from ``initial`` again."""
        self._failures = 0

    async def sleep(self) -> float:
        """Count a failure and wait its delay; returns the seconds waited."""
        seconds = self.next()
        await self._sleep(seconds)
        return seconds
