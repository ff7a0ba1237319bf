"""``drafast cpu pack`` as its own process: the native packer (``_native.cpuset_take``) on
fixture trees picks whole cores, NUMA nodes and sockets as the kubelet's static policy does,
never a CPU outside the free set; bad input is one ``drafast: error:`` line and exit 2.

Needs ``drafast._native.CpuTopology`` and ``cpuset_take``: until they are built in, only the
tests of input refused before the packer runs can pass."""

import subprocess
from pathlib import Path

import pytest
from cli_run import drafast

from drafast.drivers.cpu.cpulist import parse_cpulist
from drafast.drivers.cpu.topology import CpuTopology, read_topology
from drafast.testing.sysfs import hybrid_laptop, two_socket_smt, write_sysfs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_sockets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sysfs(tmp_path_factory.mktemp("two-sockets"), two_socket_smt())


def pack(root: Path, *args: str) -> frozenset[int]:
    out = drafast("cpu", "pack", "--host-root", str(root), *args)
    assert out.returncode == 0, out.stderr
    return parse_cpulist(out.stdout)


def assert_one_line_error(out: subprocess.CompletedProcess[str], expected: str) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("drafast: error:")]
    assert len(errors) == 1, out.stderr
    assert expected in errors[0], errors[0]


def assert_refused_by_the_packer(out: subprocess.CompletedProcess[str]) -> None:
    """The packer's own CpuAllocationError, not the missing-packer error."""
    assert_one_line_error(out, "drafast: error: ")
    assert "no native CPU packer" not in out.stderr


def whole_cores(topo: CpuTopology, cpus: frozenset[int]) -> bool:
    return all(set(topo.cpus[c].siblings) <= cpus for c in cpus)


def test_small_claims_take_whole_cores_in_one_numa_node(two_sockets: Path) -> None:
    topo = read_topology(two_sockets)
    picked = pack(two_sockets, "--count", "4")
    assert len(picked) == 4
    assert whole_cores(topo, picked)
    assert len({topo.cpus[c].numa for c in picked}) == 1


@pytest.mark.parametrize(("count", "level"), [(32, "numa"), (64, "socket")])
def test_a_node_or_socket_sized_claim_takes_a_whole_one(
    two_sockets: Path, count: int, level: str
) -> None:
    topo = read_topology(two_sockets)
    picked = pack(two_sockets, "--count", str(count))
    if level == "numa":
        assert picked in [topo.cpus_in_numa(n) for n in topo.numa_nodes()]
    else:
        assert picked in [topo.cpus_in_socket(s) for s in topo.sockets()]


def test_reserved_and_free_are_respected(two_sockets: Path) -> None:
    picked = pack(two_sockets, "--count", "8", "--reserved", "0-3,64-67")
    assert not picked & parse_cpulist("0-3,64-67")
    free = parse_cpulist("10-20,74-84")
    picked = pack(two_sockets, "--count", "6", "--free", "10-20,74-84", "--reserved", "10,74")
    assert len(picked) == 6
    assert picked <= free - {10, 74}


def test_spread_numa_balances_over_nodes(two_sockets: Path) -> None:
    topo = read_topology(two_sockets)
    picked = pack(two_sockets, "--count", "48", "--spread-numa")
    per_node = [len(picked & topo.cpus_in_numa(n)) for n in topo.numa_nodes()]
    used = [n for n in per_node if n]
    assert len(picked) == 48 and len(used) >= 2
    assert max(used) - min(used) <= 2


def test_full_cores_refuses_to_split_a_core(two_sockets: Path) -> None:
    picked = pack(two_sockets, "--count", "6", "--full-cores")
    assert whole_cores(read_topology(two_sockets), picked)
    out = drafast("cpu", "pack", "--host-root", str(two_sockets), "--count", "3", "--full-cores")
    assert_refused_by_the_packer(out)


def test_never_a_cpu_that_is_not_free_on_an_asymmetric_host(tmp_path: Path) -> None:
    # hybrid: 6 SMT P-cores + 8 single E-cores, so the kubelet's integer averages
    # (CPUsPerCore = 20 // 14 = 1) do not describe any real core
    root = write_sysfs(tmp_path, hybrid_laptop())
    free_text = "1-7,12,14-19"
    for count in (1, 2, 3, 5, 8, 14):
        picked = pack(root, "--count", str(count), "--free", free_text)
        assert len(picked) == count
        assert picked <= parse_cpulist(free_text)


def test_more_than_free_is_one_line(two_sockets: Path) -> None:
    out = drafast("cpu", "pack", "--host-root", str(two_sockets), "--count", "5", "--free", "0-3")
    assert_refused_by_the_packer(out)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--count", "0"], "cpu pack: argument --count: 0: must be at least 1"),
        (["--count", "two"], "cpu pack: argument --count: 'two' is not a whole number"),
        ([], "cpu pack: the following arguments are required: --count"),
        (["--count", "1", "--free", "0-x"], "--free 0-x: cpulist '0-x': 'x' is not a CPU number"),
        (["--count", "1", "--reserved", "3-1"], "--reserved 3-1: cpulist '3-1': range"),
        (["--count", "1", "--free", "200-201"], "--free 200-201: CPUs 200-201 are not online"),
    ],
)
def test_bad_input_is_one_line(two_sockets: Path, args: list[str], expected: str) -> None:
    out = drafast("cpu", "pack", "--host-root", str(two_sockets), *args)
    assert_one_line_error(out, expected)
