"""What the API client records, on the process's :class:`drafast.runtime.metrics.Metrics`.

:class:`drafast.k8s.KubeAPI` increments ``drafast_api_errors_total{driver,status}`` for every
failed attempt as it happens (retried ones included; status ``0`` = no response: connect error,
timeout, dropped connection), so nothing diffs its plain ``ApiStats`` counters.
"""

from __future__ import annotations

from typing import Any

from drafast.runtime.metrics import Metrics


class ApiMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self._errors = metrics.api_errors
        self._driver = metrics.driver
        self._children: dict[int, Any] = {}

    def api_error(self, status: int) -> None:
        child = self._children.get(status)
        if child is None:
            child = self._children[status] = self._errors.labels(self._driver, str(status))
        child.inc()
