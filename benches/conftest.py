"""Shared benchmark fixtures: a plugin in its own process (as under a kubelet) and a uvloop."""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
import uvloop

from drafast.app.schema import command_line
from drafast.app.settings import RunOptions
from drafast.testing import start_file_plugin

DRIVER = "file.drafast.dev"
T = TypeVar("T")


class BackgroundLoop:
    """A uvloop that keeps running in its own thread between benchmark rounds, as the kubelet's
    client does: stopping and restarting a loop around every call would time grpc's wake-up,
    not the plugin."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="bench-loop", daemon=True
        )
        self._thread.start()

    def run_until_complete(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    lp = BackgroundLoop()
    yield lp
    lp.close()


def reference(name: str) -> ModuleType:
    """A pure-Python reference implementation from ``tests/native`` (not an importable package
    from here), for native-vs-reference benchmarks."""
    path = Path(__file__).resolve().parents[1] / "tests" / "native" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def tmpfs_dir(prefix: str) -> Path:
    """A directory on tmpfs, like the node's /var/run/cdi (CDI specs are never on disk there)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/dev/shm"))


def start_plugin(root: Path, cdi_dir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        (files / f"file-{i}").write_text("")
    quiet = command_line(RunOptions, {"log_level": "warning"})
    return start_file_plugin(root, *quiet, *extra, cdi_dir=cdi_dir)


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": statistics.median(s) * 1e3,
        "p99_ms": s[min(len(s) - 1, round(0.99 * (len(s) - 1)))] * 1e3,
        "rounds": len(s),
    }


def record(benchmark: Any, samples: list[float], claims_per_round: int, **extra: Any) -> None:
    """Attach p50/p99, mean and claims/s (from our own per-round timings) to the benchmark JSON:
    pytest-benchmark's own stats time the whole round function (for an out-of-process client,
    its JSON round trip too) and include the warm-up rounds."""
    stats = percentiles(samples)
    stats["mean_ms"] = statistics.fmean(samples) * 1e3
    stats["claims_per_s"] = claims_per_round * len(samples) / sum(samples)
    benchmark.extra_info.update(stats | extra)


def timed(fn: Callable[[], Any], samples: list[float]) -> Callable[[], Any]:
    def run() -> Any:
        t0 = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t0)
        return out

    return run


def pytest_configure(config: pytest.Config) -> None:
    # Every benchmark times its own rounds (pedantic mode, fixed round counts) and checks every
    # answer; with --benchmark-disable pytest-benchmark runs each once, which measures nothing.
    if config.getoption("benchmark_disable", default=False):
        raise pytest.UsageError(
            "benches/ cannot run with --benchmark-disable: every benchmark times its own rounds;"
            " select fewer with -k instead"
        )
