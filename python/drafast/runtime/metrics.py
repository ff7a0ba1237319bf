"""Prometheus metrics of one plugin instance (its own registry: no global state).

Imports only prometheus_client. Components get the :class:`Metrics` object through their
constructors and record into it; ``drafast.app`` serves ``registry`` on ``/metrics``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_Labelled = Counter | Histogram

# Prepare is a few ms; kubelet deadline is 45 s.
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 45)


class Metrics:
    def __init__(self, driver: str) -> None:
        self.driver = driver
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, str, str], Any] = {}
        self._prepared: Any = None
        self._commit: tuple[Any, Any] | None = None
        self.operation_seconds = Histogram(
            "drafast_operation_duration_seconds",
            "Duration of NodePrepareResources/NodeUnprepareResources calls",
            ["driver", "operation", "result"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.claims = Counter(
            "drafast_claims_total",
            "Claims handled, by operation and per-claim result",
            ["driver", "operation", "result"],
            registry=self.registry,
        )
        self.prepared_claims = Gauge(
            "drafast_prepared_claims",
            "Claims currently prepared (in the checkpoint)",
            ["driver"],
            registry=self.registry,
        )
        self.slice_writes = Counter(
            "drafast_resourceslice_writes_total",
            "ResourceSlice writes, by verb",
            ["driver", "verb"],
            registry=self.registry,
        )
        self.api_errors = Counter(
            "drafast_api_errors_total",
            "API server errors, by HTTP status",
            ["driver", "status"],
            registry=self.registry,
        )
        self.checkpoint_commit_seconds = Histogram(
            "drafast_checkpoint_commit_duration_seconds",
            "Durable checkpoint writes (temp file, fsync, rename, directory fsync)",
            ["driver"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.checkpoint_commit_claims = Histogram(
            "drafast_checkpoint_commit_claims",
            "Claim records per group commit (concurrent prepares share one durable write)",
            ["driver"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024),
            registry=self.registry,
        )
        self.publish_lag = Gauge(
            "drafast_publish_lag_seconds",
            "Seconds from discovering a change to having it published",
            ["driver"],
            registry=self.registry,
        )

    def checkpoint_commit(self, seconds: float, changes: int) -> None:
        """One durable group commit of ``changes`` claim records."""
        if self._commit is None:
            self._commit = (
                self.checkpoint_commit_seconds.labels(self.driver),
                self.checkpoint_commit_claims.labels(self.driver),
            )
        self._commit[0].observe(seconds)
        self._commit[1].observe(changes)

    def operation(self, operation: str, seconds: float, total: int, failed: int) -> None:
        result = "error" if failed else "success"
        self._child(self.operation_seconds, operation, result).observe(seconds)
        if total - failed:
            self._child(self.claims, operation, "success").inc(total - failed)
        if failed:
            self._child(self.claims, operation, "error").inc(failed)

    def set_prepared(self, claims: int) -> None:
        if self._prepared is None:
            self._prepared = self.prepared_claims.labels(self.driver)
        self._prepared.set(claims)

    def _child(self, metric: _Labelled, operation: str, result: str) -> Any:
        # labels() costs ~10 us per call; every kubelet call records several.
        key = (id(metric), operation, result)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(self.driver, operation, result)
        return child
