"""Per-call logging context: the kubelet edge sets a request ID; every log line emitted while
handling that call (core, driver, store; tasks inherit the context) carries it."""

from __future__ import annotations

import logging
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("drafast_request_id", default="")


class RequestIDFilter(logging.Filter):
    """Adds ``request_id`` to records made inside a kubelet call (and only there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id.get()
        if rid and not hasattr(record, "request_id"):
            record.request_id = rid
        return True
