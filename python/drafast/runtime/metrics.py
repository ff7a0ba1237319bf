"""Prometheus metrics of one plugin instance (its own registry: no global state).

Components get the :class:`Metrics` object through their constructors and record into it;
``drafast.app`` serves ``registry`` on ``/metrics``. Values are kept here in plain Python (an
increment is a float addition, no lock: everything records from the event loop's thread) and
handed to ``prometheus_client`` by a collector when ``registry`` is first used: a plugin
without ``--bind-address`` never imports it (~2 MiB and ~40 ms of start: its exposition half
brings http.server, wsgiref and email along). Names, labels, types, buckets and the
``_created`` series are what ``prometheus_client``'s own metric classes would expose.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

# Prepare is a few ms; kubelet deadline is 45 s.
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 45)


class _Child:
    """One label combination: a counter or gauge value, or a histogram's buckets and sum."""

    __slots__ = ("buckets", "created", "sum", "value")

    def __init__(self, buckets: int) -> None:
        self.value = 0.0
        self.sum = 0.0
        self.buckets = [0.0] * buckets  # per bucket, not cumulative; the last is +Inf
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("counters can only be incremented by non-negative amounts")
        self.value += amount

    def set(self, value: float) -> None:
        self.value = float(value)


class _Family:
    """A metric with labels, in the shape of ``prometheus_client``'s classes (``labels(...)``
    returns a child with ``inc``/``set``/``observe``)."""

    def __init__(
        self,
        kind: str,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float] = (),
    ) -> None:
        self.kind = kind
        self.name = name.removesuffix("_total") if kind == "counter" else name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(float(b) for b in buckets)
        self.children: dict[tuple[str, ...], _Child] = {}

    def labels(self, *values: str) -> Any:  # a _Child (counter, gauge) or a _Histogram
        key = tuple(str(v) for v in values)
        if len(key) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {key}")
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = (
                _Histogram(self.bounds) if self.kind == "histogram" else _Child(0)
            )
        return child

    def collect(self) -> Metric:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        family: Any
        if self.kind == "counter":
            family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
            for key, c in self.children.items():
                family.add_metric(key, c.value, created=c.created)
        elif self.kind == "gauge":
            family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
            for key, c in self.children.items():
                family.add_metric(key, c.value)
        else:
            family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
            for key, c in self.children.items():
                cumulative, acc = [], 0.0
                for bound, n in zip((*self.bounds, float("inf")), c.buckets, strict=True):
                    acc += n
                    cumulative.append((_le(bound), acc))
                family.add_metric(key, cumulative, c.sum)
                family.add_sample(
                    f"{self.name}_created", dict(zip(self.labelnames, key, strict=True)), c.created
                )
        return family  # type: ignore[no-any-return]


class _Histogram(_Child):
    __slots__ = ("bounds",)

    def __init__(self, bounds: tuple[float, ...]) -> None:
        super().__init__(len(bounds) + 1)
        self.bounds = bounds

    def observe(self, value: float) -> None:
        self.buckets[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value


def _le(bound: float) -> str:
    if bound == float("inf"):
        return "+Inf"
    return repr(float(bound))


class _Collector:
    def __init__(self, families: Sequence[_Family]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.collect()


class Metrics:
    def __init__(self, driver: str) -> None:
        self.driver = driver
        self._registry: CollectorRegistry | None = None
        self._children: dict[tuple[int, str, str], Any] = {}
        self._prepared: Any = None
        self._commit: tuple[Any, Any] | None = None
        self.operation_seconds = _Family(
            "histogram",
            "drafast_operation_duration_seconds",
            "Duration of NodePrepareResources/NodeUnprepareResources calls",
            ["driver", "operation", "result"],
            buckets=_BUCKETS,
        )
        self.claims = _Family(
            "counter",
            "drafast_claims_total",
            "Claims handled, by operation and per-claim result",
            ["driver", "operation", "result"],
        )
        self.prepared_claims = _Family(
            "gauge",
            "drafast_prepared_claims",
            "Claims currently prepared (in the checkpoint)",
            ["driver"],
        )
        self.slice_writes = _Family(
            "counter",
            "drafast_resourceslice_writes_total",
            "ResourceSlice writes, by verb",
            ["driver", "verb"],
        )
        self.api_errors = _Family(
            "counter",
            "drafast_api_errors_total",
            "API server errors, by HTTP status",
            ["driver", "status"],
        )
        self.checkpoint_commit_seconds = _Family(
            "histogram",
            "drafast_checkpoint_commit_duration_seconds",
            "Durable checkpoint writes (temp file, fsync, rename, directory fsync)",
            ["driver"],
            buckets=_BUCKETS,
        )
        self.checkpoint_commit_claims = _Family(
            "histogram",
            "drafast_checkpoint_commit_claims",
            "Claim records per group commit (concurrent prepares share one durable write)",
            ["driver"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024),
        )
        self.publish_lag = _Family(
            "gauge",
            "drafast_publish_lag_seconds",
            "Seconds from discovering a change to having it published",
            ["driver"],
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

    @property
    def registry(self) -> CollectorRegistry:
        """The ``prometheus_client`` registry with every metric (imports it on first use)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            self._registry = CollectorRegistry(auto_describe=True)
            self._registry.register(_Collector(self._families()))
        return self._registry

    def _families(self) -> list[_Family]:
        return [v for v in vars(self).values() if isinstance(v, _Family)]

    def _child(self, metric: _Family, operation: str, result: str) -> Any:
        # labels() costs ~10 us per call; every kubelet call records several.
        key = (id(metric), operation, result)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(self.driver, operation, result)
        return child
