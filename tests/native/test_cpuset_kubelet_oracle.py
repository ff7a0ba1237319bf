"""cpuset_take against the kubelet's own code: kubelet v1.37.2 ``takeByTopologyNUMAPacked``
(uncore alignment on and off) and ``takeByTopologyNUMADistributed`` (group size 1, and
CPUsPerCore as under full-pcpus-only), called through the Go oracle in kubelet_cpu_oracle/.

Where the kubelet's answer is a valid allocation (exactly ``count`` CPUs, all free, whole cores
under full_cores) cpuset_take must return exactly it; where the kubelet errs, cpuset_take must
refuse; where the kubelet hands out CPUs that are not free (asymmetric hosts), cpuset_take must
refuse under full_cores and otherwise return ``count`` free CPUs that keep the free part of the
kubelet's pick. Needs ``go`` (built on first use, cached); without
it this test fails and says so: skipping would hide a broken port."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from drafast import _native
from drafast.errors import CpuAllocationError

from . import cpu_topologies as topos
from . import kubelet_oracle
from . import reference_cpuset as ref


@dataclass(frozen=True, slots=True)
class Case:
    arrays: topos.Arrays
    free: str
    count: int
    mode: str  # "packed" | "distributed"
    prefer_uncore: bool = True
    full_cores: bool = False

    def request(self) -> dict[str, Any]:
        cpus_per_core = len(self.arrays.cpus) // len(set(self.arrays.cores))
        return self.arrays.as_json() | {
            "free": self.free,
            "count": self.count,
            "mode": self.mode,
            "prefer_uncore": self.prefer_uncore,
            "group_size": cpus_per_core if self.full_cores else 1,
        }


def counts_for(rng: random.Random, free: int, cpus_per_core: int) -> list[int]:
    fixed = [1, 2, 3, 4, 8, 16, 17, 64, 100, 128, 200, 256, 257, 512]
    picks = {c for c in fixed if c <= free} | {free, max(free - 1, 1), max(free // 2, 1)}
    picks |= {rng.randrange(1, free + 1) * cpus_per_core for _ in range(2)}
    return sorted(c for c in picks if c >= 1)


def cases() -> list[Case]:
    rng = random.Random(1372)
    out: list[Case] = []
    named = topos.named()
    for arrays in named:
        per_core = len(arrays.cpus) // len(set(arrays.cores))
        frees = [arrays.cpus] + [topos.random_free(rng, arrays) for _ in range(3)]
        if len(arrays.cpus) >= 512:
            frees.append(topos.half_taken_scattered(arrays))
        for free_list in frees:
            if not free_list:
                continue
            free = ref.format_cpus(free_list)
            counts = counts_for(rng, len(free_list), per_core)
            for count in rng.sample(counts, k=min(4, len(counts))):
                out += [
                    Case(arrays, free, count, "packed", prefer_uncore=True),
                    Case(arrays, free, count, "packed", prefer_uncore=False),
                    Case(arrays, free, count, "distributed"),
                    Case(arrays, free, count, "distributed", full_cores=True),
                ]
    for _ in range(250):
        arrays = topos.random_topology(rng)
        free_list = topos.random_free(rng, arrays) or arrays.cpus
        count = rng.randrange(1, len(free_list) + 1)
        mode = rng.choice(["packed", "distributed"])
        out.append(
            Case(
                arrays,
                ref.format_cpus(free_list),
                count,
                mode,
                prefer_uncore=rng.random() < 0.5,
                full_cores=rng.random() < 0.4,
            )
        )
    return out


def native_take(case: Case) -> str | CpuAllocationError:
    topology = _native.CpuTopology(*case.arrays.args())
    try:
        return _native.cpuset_take(
            topology,
            case.free,
            case.count,
            spread_numa=case.mode == "distributed",
            full_cores=case.full_cores,
            prefer_uncore=case.prefer_uncore,
        )
    except CpuAllocationError as err:
        return err


def judge(case: Case, answer: dict[str, Any], got: str | CpuAllocationError) -> str:
    """How this case went; asserts native agrees with the kubelet."""
    free = ref.parse(case.free)
    topology = ref.Topology(*case.arrays.args())
    where = f"{case.arrays.name}: free={case.free} count={case.count} {case}"
    if answer.get("hang"):
        # The kubelet loops forever here; we must answer something valid, or refuse.
        if isinstance(got, str):
            assert ref.parse(got) <= free and len(ref.parse(got)) == case.count, where
        return "kubelet hangs"
    if "error" in answer:
        assert isinstance(got, CpuAllocationError), (where, answer)
        if "the kubelet's algorithm failed" in str(got):
            assert answer["error"] in str(got), (where, answer, str(got))
        return "both refuse"
    picked = ref.parse(answer["cpus"])
    valid = picked <= free and len(picked) == case.count
    if case.full_cores:
        per_core = topology.cpus_per_core
        siblings = {
            cpu
            for cpu, p in topology.details.items()
            if p.core in {topology.details[c].core for c in picked}
        }
        valid = valid and siblings == picked and case.count % per_core == 0
    if valid:
        assert got == answer["cpus"], (where, answer, got)
        return "same CPUs"
    if case.full_cores or isinstance(got, CpuAllocationError):
        # Refused: under whole cores always; otherwise only when no repair was found.
        assert isinstance(got, CpuAllocationError), (where, answer, got)
        return "kubelet's answer invalid, refused"
    # Repaired: exactly count CPUs, all free, and every free CPU of the kubelet's pick kept.
    repaired = ref.parse(got)
    assert len(repaired) == case.count and repaired <= free, (where, answer, got)
    assert picked & free <= repaired, (where, answer, got)
    return "kubelet's answer invalid, repaired"


def test_native_matches_the_kubelet() -> None:
    try:
        oracle = kubelet_oracle.build_oracle()
    except kubelet_oracle.OracleError as err:
        pytest.fail(f"cannot check against the kubelet: {err}")
    todo = cases()
    answers = kubelet_oracle.ask(oracle, [c.request() for c in todo])
    outcomes = Counter(judge(c, a, native_take(c)) for c, a in zip(todo, answers, strict=True))
    print(dict(outcomes))
    assert len(todo) >= 300
    assert outcomes["same CPUs"] >= 250, outcomes
    assert outcomes["kubelet hangs"] <= 5, outcomes  # more means a slow oracle, not a hang
