"""What the slice reconciler records, on the process's :class:`drafast.runtime.metrics.Metrics`.

The reconciler increments these as each write succeeds (no totals diffed later), so a metric
never lags behind or double-counts across reconciler restarts. Names and labels are the
registry's: ``drafast_resourceslice_writes_total{driver,verb}`` with verb create, update or
delete, and ``drafast_publish_lag_seconds{driver}``.
"""

from __future__ import annotations

from typing import Any, Literal

from drafast.runtime.metrics import Metrics

WriteVerb = Literal["create", "update", "delete"]


class PublishMetrics:
    def __init__(self, metrics: Metrics) -> None:
        driver = metrics.driver
        # Children resolved once: labels() costs ~10 us and a sync may write hundreds of slices.
        self._writes: dict[str, Any] = {
            verb: metrics.slice_writes.labels(driver, verb)
            for verb in ("create", "update", "delete")
        }
        self._lag = metrics.publish_lag.labels(driver)

    def slice_written(self, verb: WriteVerb) -> None:
        self._writes[verb].inc()

    def published(self, lag_seconds: float) -> None:
        """A desired state reached the store ``lag_seconds`` after it was handed over."""
        self._lag.set(lag_seconds)
