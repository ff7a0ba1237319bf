"""Benchmark your driver's prepare as a kubelet would call it, in a few lines.

The rig runs your driver as its own process (``drafast run <driver>``, ``dir:`` cluster mode,
CDI specs on tmpfs), makes fresh allocated claims for its devices every round and calls it
through the kubelet's own grpc-go DRA client (``kubeletload``, shipped with drafast as Go source
and built with ``go build`` into ``$DRAFAST_CACHE`` or ``~/.cache/drafast`` on first use). With
no ``go`` it falls back to drafast's Python kubelet client and says so in the benchmark's
``extra_info["client"]``. Every answer is checked (no error, one device per claim, plus your own
``check``); p50/p99 of prepare and unprepare go to ``extra_info``. With pytest-benchmark::

    from drafast.testing.bench import PrepareRig

    def test_prepare(benchmark, tmp_path):
        with PrepareRig.start(tmp_path, "echo") as rig:  # your driver's name or module:KIND
            rig.bench_prepare(benchmark, claims=1, rounds=200)

``claims=64, calls=64`` times 64 concurrent one-claim calls, ``claims=64, calls=1`` one call
with 64 claims. The parts are public too: :class:`PluginProcess` (any plugin binary, its CPU
time, RSS and start -> GetInfo time), :class:`DirClaims` / :class:`KubeClaims` (claims in a
``dir:`` store or on a real API server), :class:`GoKubelet` / :class:`PythonKubelet`, and
:func:`percentiles` / :func:`record` for your own rounds, :func:`wait_quiet` to start on a quiet
machine (or report how busy it was).
"""

from __future__ import annotations

from drafast.testing.bench.claims import ClaimSource, DirClaims, KubeClaims
from drafast.testing.bench.kubelet import (
    Answer,
    Client,
    GoKubelet,
    Kubelet,
    KubeletLoadError,
    PythonKubelet,
    Results,
    build_kubeletload,
    kubeletload_path,
    open_kubelet,
)
from drafast.testing.bench.loop import BackgroundLoop
from drafast.testing.bench.machine import BusyMeter, Load, measure_load, wait_quiet
from drafast.testing.bench.plugin import PluginProcess, process_cpu_seconds
from drafast.testing.bench.rig import PrepareRig, PrepareRounds, published_devices
from drafast.testing.bench.stats import percentiles, record, tmpfs_dir

__all__ = [
    "Answer",
    "BackgroundLoop",
    "BusyMeter",
    "ClaimSource",
    "Client",
    "DirClaims",
    "GoKubelet",
    "KubeClaims",
    "Kubelet",
    "KubeletLoadError",
    "Load",
    "PluginProcess",
    "PrepareRig",
    "PrepareRounds",
    "PythonKubelet",
    "Results",
    "build_kubeletload",
    "kubeletload_path",
    "measure_load",
    "open_kubelet",
    "percentiles",
    "process_cpu_seconds",
    "published_devices",
    "record",
    "tmpfs_dir",
    "wait_quiet",
]
