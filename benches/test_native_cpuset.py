"""CPU picking: drafast._native.cpuset_take vs the pure-Python reference
(tests/native/reference_cpuset.py) on a 1024-CPU host (4 sockets x 128 cores x SMT2, 8 NUMA
nodes, 8-core L3s) with about half its CPUs taken in a scattered pattern.

The CPU driver picks CPUs inside NodePrepareResources, once per claim, so this is on the
prepare path of every CPU claim. Every benchmark also checks its answer: the count asked, all
free, and the same CPUs from both implementations. Run:
    .venv/bin/python -m pytest benches/test_native_cpuset.py -q
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import pytest

from drafast import _native

from .conftest import reference

ref = reference("reference_cpuset")
topologies = reference("cpu_topologies")

HOST = topologies.big_1024()
FREE = ref.format_cpus(topologies.half_taken_scattered(HOST))
COUNTS = [2, 8, 16, 64, 200]  # even: whole cores of 2 threads
MODES = {
    "packed": {},
    "whole-cores": {"full_cores": True},
    "spread-numa": {"spread_numa": True},
}
ROUNDS = {"native": 2000, "reference": 5}


@pytest.fixture(scope="module")
def expected() -> dict[tuple[str, int], str]:
    """The reference's answers, computed once (the reference is the slow side)."""
    topo = ref.Topology(*HOST.args())
    return {
        (mode, n): ref.take(topo, FREE, n, **options)
        for mode, options in MODES.items()
        for n in COUNTS
    }


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("impl", ["native", "reference"])
def test_take(
    benchmark: Any, expected: dict[tuple[str, int], str], impl: str, mode: str, count: int
) -> None:
    benchmark.group = f"cpuset_take 1024 CPUs, {mode}, {count}"
    options = MODES[mode]
    take: Callable[..., str]
    if impl == "native":
        topology: Any = _native.CpuTopology(*HOST.args())
        take = _native.cpuset_take
    else:
        topology = ref.Topology(*HOST.args())
        take = ref.take
    result = benchmark.pedantic(
        take,
        (topology, FREE, count),
        kwargs=options,
        rounds=ROUNDS[impl],
        warmup_rounds=1,
    )
    times = sorted(benchmark.stats.stats.data)
    benchmark.extra_info["p50_ms"] = statistics.median(times) * 1e3
    benchmark.extra_info["p99_ms"] = times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3
    assert result == expected[mode, count]
    picked = ref.parse(result)
    assert len(picked) == count and picked <= ref.parse(FREE)
