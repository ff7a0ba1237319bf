"""The plain-Python metrics expose exactly what prometheus_client's own metric classes would
(names, labels, types, buckets, _created series), and import prometheus_client only on use."""

from __future__ import annotations

import re
import subprocess
import sys

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from drafast.runtime.metrics import _BUCKETS, Metrics


def _reference(driver: str) -> bytes:
    r = CollectorRegistry(auto_describe=True)
    ops = Histogram(
        "drafast_operation_duration_seconds",
        "Duration of NodePrepareResources/NodeUnprepareResources calls",
        ["driver", "operation", "result"],
        buckets=_BUCKETS,
        registry=r,
    )
    claims = Counter(
        "drafast_claims_total",
        "Claims handled, by operation and per-claim result",
        ["driver", "operation", "result"],
        registry=r,
    )
    prepared = Gauge(
        "drafast_prepared_claims",
        "Claims currently prepared (in the checkpoint)",
        ["driver"],
        registry=r,
    )
    ops.labels(driver, "prepare", "error").observe(0.003)
    ops.labels(driver, "prepare", "error").observe(0.001)  # on a bucket bound: that bucket
    claims.labels(driver, "prepare", "success").inc(2)
    claims.labels(driver, "prepare", "error").inc(1)
    prepared.labels(driver).set(5)
    return generate_latest(r)


def _ours(driver: str) -> bytes:
    m = Metrics(driver)
    m.operation("prepare", 0.003, 3, 1)
    m.operation_seconds.labels(driver, "prepare", "error").observe(0.001)
    m.set_prepared(5)
    return generate_latest(m.registry)


def _families(text: bytes, names: tuple[str, ...]) -> list[str]:
    lines = re.sub(rb"(_created\{[^}]*\}) \S+", rb"\1 T", text).decode().splitlines()
    return [x for x in lines if any(n in x for n in names)]


def test_same_exposition_as_prometheus_client() -> None:
    names = ("drafast_operation_duration", "drafast_claims", "drafast_prepared_claims")
    assert _families(_ours("d.x"), names) == _families(_reference("d.x"), names)


def test_prometheus_client_is_imported_only_for_the_registry() -> None:
    code = (
        "import sys\n"
        "from drafast.runtime.metrics import Metrics\n"
        "m = Metrics('d'); m.operation('prepare', 0.1, 1, 0); m.set_prepared(1)\n"
        "assert 'prometheus_client' not in sys.modules\n"
        "m.registry\n"
        "assert 'prometheus_client' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
