"""Retry timing of API requests: the server's ``Retry-After`` (delays otherwise come from the
shared :class:`drafast.runtime.backoff.Backoff`)."""

from __future__ import annotations

import time
from collections.abc import Callable


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent
    or unparsable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime  # rare (HTTP dates): not at start

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())
