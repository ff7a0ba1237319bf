"""drafast._native cpuset functions, checked against the pure-Python reference
(reference_cpuset.py) on the named hosts and on seeded random topologies, free sets and counts;
cpulist parse/format round trips and malformed inputs. (test_cpuset_kubelet_oracle.py checks
both against the kubelet's own code.)"""

from __future__ import annotations

import random
import re

import pytest

from drafast import _native
from drafast.errors import CpuAllocationError, CpuListError

from . import cpu_topologies as topos
from . import reference_cpuset as ref

OPTIONS = [
    {},
    {"prefer_uncore": False},
    {"full_cores": True},
    {"full_cores": True, "prefer_uncore": False},
    {"spread_numa": True},
    {"spread_numa": True, "full_cores": True},
]


def outcome(call: object, *args: object, **kwargs: object) -> tuple[str, str]:
    """("ok", answer) or (error class name, message)."""
    try:
        return ("ok", call(*args, **kwargs))  # type: ignore[operator]
    except (CpuAllocationError, CpuListError, ValueError) as err:
        return (type(err).__name__, str(err))


def agree(arrays: topos.Arrays, free: str, count: int, **options: bool) -> tuple[str, str]:
    native = _native.CpuTopology(*arrays.args())
    reference = ref.Topology(*arrays.args())
    want = outcome(ref.take, reference, free, count, **options)
    got = outcome(_native.cpuset_take, native, free, count, **options)
    assert got == want, (arrays.name, free, count, options)
    return got


# ----------------------------------------------------------------------------- cpulist

GOOD = ["", " ", "0", "0-3,8,10-11\n", "\t5,4,4-5,007 ", "16383", "0-63,128-191", "1,3,5"]
BAD = [
    "3-1",
    "a",
    "1,,2",
    "1,",
    ",1",
    "1-",
    "-1",
    "1-2-3",
    "0, 2",
    "16384",
    "1,99999999999",
    "+1",
    "0x1",
    "1 2",
    "1\n2",
    '"',
    "é",
]


@pytest.mark.parametrize("text", GOOD)
def test_normalize_good(text: str) -> None:
    got = _native.cpuset_normalize(text)
    assert got == ref.normalize(text)
    assert _native.cpuset_normalize(got) == got


@pytest.mark.parametrize("text", BAD)
def test_normalize_bad_names_text_and_position(text: str) -> None:
    with pytest.raises(CpuListError) as ref_err:
        ref.normalize(text)
    with pytest.raises(CpuListError) as got:
        _native.cpuset_normalize(text)
    assert str(got.value) == str(ref_err.value)
    assert " at position " in str(got.value)


def test_normalize_random_round_trips() -> None:
    rng = random.Random(7)
    for _ in range(500):
        cpus = {rng.randrange(0, 300) for _ in range(rng.randrange(0, 40))}
        text = ref.format_cpus(cpus)
        assert _native.cpuset_normalize(text) == text
        shuffled = list(cpus)
        rng.shuffle(shuffled)
        assert _native.cpuset_normalize(",".join(map(str, shuffled))) == text
        noisy = "".join(rng.choice("0123456789,- ") for _ in range(rng.randrange(8)))
        assert outcome(_native.cpuset_normalize, noisy) == outcome(ref.normalize, noisy)


# ----------------------------------------------------------------------------- topology


@pytest.mark.parametrize("arrays", topos.named(), ids=lambda a: a.name)
def test_topology_counts(arrays: topos.Arrays) -> None:
    native = _native.CpuTopology(*arrays.args())
    reference = ref.Topology(*arrays.args())
    for attr in (
        "num_cpus",
        "num_cores",
        "num_sockets",
        "num_numa_nodes",
        "num_uncores",
        "cpus_per_core",
        "cpus",
    ):
        assert getattr(native, attr) == getattr(reference, attr), attr


def test_topology_counts_examples() -> None:
    big = _native.CpuTopology(*topos.big_1024().args())
    assert (big.num_cpus, big.num_cores, big.num_sockets, big.num_numa_nodes) == (1024, 512, 4, 8)
    assert (big.num_uncores, big.cpus_per_core, big.cpus) == (64, 2, "0-1023")
    hybrid = _native.CpuTopology(*topos.hybrid().args())
    assert (hybrid.num_cores, hybrid.cpus_per_core) == (24, 1)  # 32 // 24: an average
    assert repr(hybrid) == "CpuTopology(cpus='0-31', sockets=1, numa_nodes=1, cores=24, uncores=1)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 1], [0], [0, 0], [0, 1], [0, 0]), "2 cpus but 1 sockets"),
        (([], [], [], [], []), "topology has no CPUs"),
        (([1, 1], [0, 0], [0, 0], [1, 2], [0, 0]), "CPU 1 is listed twice"),
        (([0, 1], [0, 1], [0, 0], [0, 0], [0, 0]), "core 0 spans two sockets"),
        (([0, 1], [0, 0], [0, 1], [0, 0], [0, 0]), "core 0 spans two NUMA nodes"),
        (([0, 1], [0, 0], [0, 0], [0, 0], [0, 1]), "core 0 spans two uncore caches"),
        (([0, -1], [0, 0], [0, 0], [0, 1], [0, 0]), "cpus[1]: CPU id -1 is not in 0..16383"),
        (([16384], [0], [0], [0], [0]), "cpus[0]: CPU id 16384 is not in 0..16383"),
    ],
)
def test_topology_rejects(args: tuple[list[int], ...], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _native.CpuTopology(*args)
    with pytest.raises(ValueError, match=re.escape(message)):
        ref.Topology(*args)


# ----------------------------------------------------------------------------- cpuset_take


def test_take_examples() -> None:
    t = topos.symmetric(2, 3, 2)  # the kubelet's topoDualSocketHT numbering, one NUMA/socket
    assert agree(t, "0-11", 1) == ("ok", "0")
    assert agree(t, "0-11", 2) == ("ok", "0,6")
    assert agree(t, "0-11", 12) == ("ok", "0-11")
    assert agree(t, "0-11", 4, spread_numa=True) == ("ok", "0-1,6-7")
    kind, message = agree(t, "0-11", 3, full_cores=True)
    assert kind == "CpuAllocationError"
    assert message == (
        "asked for 3 CPUs, 12 free: whole cores only, and 3 is not a multiple of 2 CPUs per core"
    )


@pytest.mark.parametrize(
    ("free", "count", "kind", "message"),
    [
        ("0-3", 5, "CpuAllocationError", "asked for 5 CPUs, 4 free: not enough free CPUs"),
        ("0-3", 0, "CpuAllocationError", "asked for 0 CPUs, 4 free: at least one CPU"),
        ("0-3", -2, "CpuAllocationError", "asked for -2 CPUs, 4 free: at least one CPU"),
        ("0-12", 1, "CpuListError", 'free cpulist "0-12": CPUs 12 are not in the topology (0-11)'),
        ("0-", 1, "CpuListError", 'malformed cpulist "0-" at position 2: expected a CPU number'),
    ],
)
def test_take_errors(free: str, count: int, kind: str, message: str) -> None:
    got_kind, got = agree(topos.symmetric(2, 3, 2), free, count)
    assert (got_kind, got[: len(message)]) == (kind, message)


def test_take_never_hands_out_busy_cpus_on_asymmetric_host() -> None:
    # Hybrid: CPUsPerCore = 32 // 24 = 1, so a P-core with one free thread looks "free" to the
    # kubelet, which then hands out its busy sibling too: the free part is kept and the rest
    # asked for again; under whole cores only that is refused.
    hybrid = topos.hybrid()
    kubelet = ref.take_packed(ref.Topology(*hybrid.args()), ref.parse("0,2-31"), 3, False)
    assert kubelet == {0, 1, 16}, "the kubelet's own pick holds busy CPU 1"
    # 0 and 16 kept; one more asked for from the rest: the next E-core.
    assert agree(hybrid, "0,2-31", 3, prefer_uncore=False) == ("ok", "0,16-17")
    kind, message = agree(hybrid, "0,2-31", 3, prefer_uncore=False, full_cores=True)
    assert kind == "CpuAllocationError"
    assert "is not 3 free CPUs (busy: 1;" in message
    for count in (1, 2, 3, 5, 8, 14):  # every count gets exactly count free CPUs
        kind, picked = agree(hybrid, "1-7,12,14-19", count)
        assert kind == "ok" and len(ref.parse(picked)) == count
        assert ref.parse(picked) <= ref.parse("1-7,12,14-19")


@pytest.mark.parametrize("arrays", topos.named()[:-1], ids=lambda a: a.name)
def test_take_named_hosts(arrays: topos.Arrays) -> None:
    rng = random.Random(arrays.name)
    for _ in range(12):
        free = ref.format_cpus(topos.random_free(rng, arrays))
        size = len(ref.parse(free))
        count = rng.choice([1, 2, 3, 4, max(size // 2, 1), size, size + 1])
        agree(arrays, free, count, **rng.choice(OPTIONS))


def test_take_random_topologies() -> None:
    rng = random.Random(2026)
    seen: dict[str, int] = {}
    for _ in range(400):
        arrays = topos.random_topology(rng)
        free = ref.format_cpus(topos.random_free(rng, arrays))
        size = len(ref.parse(free))
        count = rng.choice([1, 2, 3, 4, 6, 8, max(size // 2, 1), max(size - 1, 1), size])
        kind, _ = agree(arrays, free, count, **rng.choice(OPTIONS))
        seen[kind] = seen.get(kind, 0) + 1
    # The generator must exercise both answers and refusals.
    assert seen.get("ok", 0) > 100 and seen.get("CpuAllocationError", 0) > 20, seen
