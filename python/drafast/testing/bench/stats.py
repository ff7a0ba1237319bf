"""Percentiles and pytest-benchmark ``extra_info`` from a benchmark's own per-round timings."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds (nearest rank) and the number of samples (seconds in)."""
    s = sorted(samples)
    if not s:
        raise ValueError("no samples")
    return {
        "p50_ms": statistics.median(s) * 1e3,
        "p99_ms": s[min(len(s) - 1, round(0.99 * (len(s) - 1)))] * 1e3,
        "rounds": len(s),
    }


def record(benchmark: Any, samples: Sequence[float], claims_per_round: int, **extra: Any) -> None:
    """Attach p50/p99, mean and claims/s (from our own per-round timings) to the benchmark JSON:
    pytest-benchmark's own stats time the whole round function (for an out-of-process client,
    its JSON round trip too) and include the warm-up rounds."""
    stats = percentiles(samples)
    stats["mean_ms"] = statistics.fmean(samples) * 1e3
    stats["claims_per_s"] = claims_per_round * len(samples) / sum(samples)
    benchmark.extra_info.update(stats | extra)


def tmpfs_dir(prefix: str) -> Path:
    """A new directory on tmpfs when there is one, like the node's /var/run/cdi (CDI specs are
    never on disk there); else in the temp dir. The caller removes it."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix=prefix, dir=shm if shm.is_dir() else None))
