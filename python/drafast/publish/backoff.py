"""Jittered, capped exponential backoff for API retries.

Jitter matters here: every node's driver retries against the same API server, and after an
outage thousands of synchronized retries would hit it at the same instant.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    initial: float = 0.5
    """Delay after the first failure, in seconds."""
    cap: float = 30.0
    """Longest delay, in seconds (bounds how long convergence lags behind an outage's end)."""
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, failures: int) -> float:
        """Delay before retry number ``failures`` (1-based): in [d/2, d], d = initial*2^(n-1)."""
        full = min(self.cap, self.initial * float(2 ** min(max(failures - 1, 0), 32)))
        return full / 2 + self.rng() * full / 2
