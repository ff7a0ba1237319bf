"""sysfs -> CpuTopology on the fixture shapes, the kubelet's core and uncore ids, and every
missing or malformed file: a one-line TopologyError naming it, or the peer's fallback."""

import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from drafast.drivers.cpu.cpulist import format_cpulist, parse_cpulist
from drafast.drivers.cpu.topology import CpuTopology, read_topology
from drafast.errors import TopologyError
from drafast.testing.sysfs import (
    SysfsSpec,
    arm_clusters,
    big_1024,
    hybrid_laptop,
    this_machine,
    two_socket_smt,
    write_sysfs,
)

CPU = "sys/devices/system/cpu"


def read(tmp_path: Path, spec: SysfsSpec) -> CpuTopology:
    return read_topology(write_sysfs(tmp_path, spec))


def cpus(text: str) -> frozenset[int]:
    return parse_cpulist(text)


def topology_error(root: Path) -> str:
    with pytest.raises(TopologyError) as err:
        read_topology(root)
    message = str(err.value)
    assert "\n" not in message
    return message


# --- the shapes ---------------------------------------------------------------------------


def test_this_machine(tmp_path: Path) -> None:
    topo = read(tmp_path, this_machine())
    assert topo.online == "0-1"
    assert not topo.smt_enabled
    assert (topo.sockets(), topo.numa_nodes()) == ((0,), (0,))
    assert topo.cores() == {0: {0}, 1: {1}}
    cpu1 = topo.cpus[1]
    assert (cpu1.socket, cpu1.cluster, cpu1.core_id, cpu1.core, cpu1.numa) == (0, -1, 1, 1, 0)
    assert (cpu1.l3, cpu1.uncore, cpu1.core_type, cpu1.siblings) == (0, 0, "standard", ())
    assert topo.arrays() == ([0, 1], [0, 0], [0, 0], [0, 1], [0, 0])


def test_two_socket_smt(tmp_path: Path) -> None:
    topo = read(tmp_path, two_socket_smt())
    assert topo.online == "0-127"
    assert topo.smt_enabled
    assert topo.sockets() == (0, 1)
    assert topo.numa_nodes() == (0, 1, 2, 3)
    assert topo.cpus_in_socket(1) == cpus("32-63,96-127")
    assert topo.cpus_in_numa(1) == cpus("16-31,80-95")
    cores = topo.cores()
    assert len(cores) == 64
    assert all(len(threads) == 2 for threads in cores.values())
    assert cores[5] == {5, 69}
    assert (topo.cpus[5].siblings, topo.cpus[69].siblings) == ((69,), (5,))
    # sysfs core_id repeats on each socket; the kubelet's core id (lowest CPU) does not
    cpu32, cpu96 = topo.cpus[32], topo.cpus[96]
    assert (cpu32.core_id, cpu32.core, cpu96.core_id, cpu96.core) == (0, 32, 0, 32)
    assert topo.cpus[0].core == 0
    # one L3 per socket over two NUMA nodes is not node-wide: its id is the uncore id
    assert {c.uncore for c in topo.cpus.values() if c.socket == 1} == {1}
    assert {c.l3 for c in topo.cpus.values() if c.socket == 0} == {0}


def test_hybrid_laptop(tmp_path: Path) -> None:
    topo = read(tmp_path, hybrid_laptop())
    assert topo.online == "0-19"
    assert topo.smt_enabled
    types = {cpu.id: cpu.core_type for cpu in topo.cpus.values()}
    assert {c for c, t in types.items() if t == "p-core"} == cpus("0-11")
    assert {c for c, t in types.items() if t == "e-core"} == cpus("12-19")
    cores = topo.cores()
    assert sorted(len(threads) for threads in cores.values()) == [1] * 8 + [2] * 6
    assert cores[2] == {2, 3}
    assert (topo.cpus[3].core_id, topo.cpus[3].core, topo.cpus[3].siblings) == (4, 2, (2,))
    assert (topo.cpus[12].core, topo.cpus[12].siblings) == (12, ())


def test_arm_clusters_key_cores_by_cluster_and_name_the_l3_by_its_lowest_cpu(
    tmp_path: Path,
) -> None:
    topo = read(tmp_path, arm_clusters())
    assert not topo.smt_enabled  # no smt/control: 16 CPUs on 16 cores
    assert sorted({c.cluster for c in topo.cpus.values()}) == [0, 1, 2, 3]
    # core_id 0-3 in every cluster, yet 16 distinct cores
    assert sorted(c.core_id for c in topo.cpus.values()) == sorted(list(range(4)) * 4)
    assert topo.cores() == {i: {i} for i in range(16)}
    assert {c.l3 for c in topo.cpus.values()} == {0}


def test_arm_l3_without_id_is_named_for_the_driver_but_is_the_socket_for_the_kubelet(
    tmp_path: Path,
) -> None:
    topo = read(tmp_path, replace(arm_clusters(), sockets=2))
    cpu20 = topo.cpus[20]
    assert (cpu20.socket, cpu20.l3, cpu20.uncore) == (1, 16, 1)


def test_big_1024(tmp_path: Path) -> None:
    topo = read(tmp_path, big_1024())
    assert topo.online == "0-1023"
    assert topo.smt_enabled
    assert topo.sockets() == (0, 1, 2, 3)
    assert topo.numa_nodes() == tuple(range(8))
    assert topo.cpus_in_socket(2) == cpus("256-383,768-895")
    assert topo.cpus_in_numa(7) == cpus("448-511,960-1023")
    assert len(topo.cores()) == 512
    last = topo.cpus[1023]
    assert (last.socket, last.numa, last.core_id, last.core, last.siblings) == (
        3,
        7,
        127,
        511,
        (511,),
    )
    # one L3 per 8 cores: 64 uncore caches, numbered in order
    cpu_ids, sockets, numas, cores, uncores = topo.arrays()
    assert cpu_ids == list(range(1024))
    assert len(set(uncores)) == 64
    assert (uncores[0], uncores[8], uncores[1023]) == (0, 1, 63)
    assert (sockets[600], numas[600], cores[600]) == (0, 1, 88)


# --- the kubelet's uncore id --------------------------------------------------------------


def test_node_wide_l3_gives_the_socket_id(tmp_path: Path) -> None:
    spec = SysfsSpec(sockets=2, numa_per_socket=2, cores_per_numa=4, threads_per_core=2, l3="numa")
    topo = read(tmp_path, spec)
    node3 = [topo.cpus[c] for c in sorted(topo.cpus_in_numa(3))]
    assert {(c.l3, c.uncore) for c in node3} == {(3, 1)}


def test_no_l3_gives_the_socket_id(tmp_path: Path) -> None:
    topo = read(tmp_path, replace(two_socket_smt(), l3="none"))
    assert {(c.l3, c.uncore) for c in topo.cpus.values() if c.socket == 1} == {(-1, 1)}


def test_partly_offline_node_takes_its_l3_id_as_the_kubelet_does(tmp_path: Path) -> None:
    # cAdvisor compares the L3's CPU count with #cores x #threads of the node: one offline CPU
    # makes node 1's L3 look split, so its CPUs carry the L3 id (1), node 0's the socket id (0).
    spec = SysfsSpec(
        numa_per_socket=2, cores_per_numa=4, threads_per_core=2, l3="numa", offline="12"
    )
    topo = read(tmp_path, spec)
    assert {c.uncore for c in topo.cpus.values() if c.numa == 0} == {0}
    assert {c.uncore for c in topo.cpus.values() if c.numa == 1} == {1}
    assert topo.cpus[4].siblings == ()  # cpu 12, its sibling, is offline
    assert 12 not in topo.cpus


def test_offline_siblings_leave_single_thread_cores(tmp_path: Path) -> None:
    topo = read(tmp_path, replace(two_socket_smt(), offline="64-127", smt_control="off"))
    assert topo.online == "0-63"
    assert not topo.smt_enabled
    assert topo.cores() == {i: {i} for i in range(64)}
    assert topo.cpus_in_numa(3) == cpus("48-63")


# --- SMT ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("control", "threads", "enabled"),
    [
        ("on", 1, True),
        ("off", 2, False),
        ("forceoff", 2, False),
        ("notsupported", 2, False),
        ("notimplemented", 2, False),
        (None, 2, True),  # no file: 2 CPUs per core
        (None, 1, False),
        ("sideways", 2, True),  # unknown value: counted, like no file
        ("sideways", 1, False),
    ],
)
def test_smt_control(tmp_path: Path, control: str | None, threads: int, enabled: bool) -> None:
    spec = SysfsSpec(cores_per_numa=2, threads_per_core=threads, smt_control=control)
    assert read(tmp_path, spec).smt_enabled is enabled


def test_unreadable_smt_control_falls_back_to_counting(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, SysfsSpec(threads_per_core=2, smt_control=None))
    (root / CPU / "smt" / "control").mkdir(parents=True)  # reading a directory fails
    assert read_topology(root).smt_enabled


# --- missing and malformed files ----------------------------------------------------------


def test_online_missing(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    (root / CPU / "online").unlink()
    assert topology_error(root) == f"{root / CPU / 'online'}: does not exist"


def test_no_sysfs_at_all(tmp_path: Path) -> None:
    assert topology_error(tmp_path) == f"{tmp_path / CPU / 'online'}: does not exist"


def test_bad_online_cpulist(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    (root / CPU / "online").write_text("0-x\n")
    message = topology_error(root)
    assert message == f"{root / CPU / 'online'}: cpulist '0-x': 'x' is not a CPU number"


def test_non_integer_core_id(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, SysfsSpec(cores_per_numa=4))
    path = root / CPU / "cpu3" / "topology" / "core_id"
    path.write_text("x\n")
    assert topology_error(root) == f'{path}: "x" is not an integer'


def test_multi_line_garbage_stays_one_line(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    path = root / CPU / "cpu0" / "topology" / "physical_package_id"
    path.write_text("1\n2\n")
    assert topology_error(root) == f'{path}: "1\\n2" is not an integer'


def test_non_ascii_file(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    path = root / CPU / "cpu1" / "topology" / "cluster_id"
    path.write_bytes(b"\xff\n")
    assert topology_error(root) == f"{path}: not ASCII text"


def test_unreadable_file(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    path = root / CPU / "cpu1" / "topology" / "core_id"
    path.unlink()
    path.mkdir()
    assert topology_error(root) == f"{path}: cannot read: Is a directory"


def test_bad_l3_id_and_missing_shared_list(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    index3 = root / CPU / "cpu1" / "cache" / "index3"
    (index3 / "id").write_text("zero\n")
    assert topology_error(root) == f'{index3 / "id"}: "zero" is not an integer'
    (index3 / "id").write_text("0\n")
    (index3 / "shared_cpu_list").unlink()
    assert topology_error(root) == f"{index3 / 'shared_cpu_list'}: does not exist"


def test_bad_e_core_list(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, hybrid_laptop())
    path = root / "sys" / "devices" / "cpu_atom" / "cpus"
    path.write_text("12-\n")
    assert topology_error(root) == f"{path}: cpulist '12-': '' is not a CPU number"


def test_cpu_without_numa_node_is_skipped_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_sysfs(tmp_path, SysfsSpec(cores_per_numa=4))
    (root / CPU / "cpu2" / "node0").unlink()
    (root / CPU / "cpu3" / "node0").unlink()
    with caplog.at_level(logging.WARNING, logger="drafast.drivers.cpu.topology"):
        topo = read_topology(root)
    assert sorted(topo.cpus) == [0, 1]
    assert topo.online == "0-3"  # as the kernel says; the driver uses cpu_ids()
    assert topo.cpu_ids() == {0, 1}
    [record] = caplog.records
    assert record.getMessage() == "CPUs with incomplete topology skipped"
    assert record.__dict__["cpus"] == "2-3"
    assert record.__dict__["missing"] == [f"{root / CPU / f'cpu{n}'}/node*" for n in (2, 3)]


@pytest.mark.parametrize("name", ["physical_package_id", "core_id"])
def test_cpu_without_socket_or_core_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    root = write_sysfs(tmp_path, two_socket_smt())
    path = root / CPU / "cpu70" / "topology" / name
    path.unlink()
    with caplog.at_level(logging.WARNING):
        topo = read_topology(root)
    assert 70 not in topo.cpus
    assert topo.cpus[6].siblings == ()
    [record] = caplog.records
    assert record.__dict__["missing"] == [str(path)]


def test_missing_cluster_id_is_no_cluster(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, arm_clusters())
    (root / CPU / "cpu5" / "topology" / "cluster_id").unlink()
    assert read_topology(root).cpus[5].cluster == -1


def test_online_cpu_without_a_directory_is_skipped(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    shutil.rmtree(root / CPU / "cpu1")
    assert sorted(read_topology(root).cpus) == [0]


def test_no_cpu_complete(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    for n in (0, 1):
        (root / CPU / f"cpu{n}" / "node0").unlink()
    message = topology_error(root)
    assert message == f"{root / CPU}: no online CPU has a complete topology (socket, core, NUMA)"


def test_node_directory_missing(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, SysfsSpec(numa_per_socket=2))
    shutil.rmtree(root / "sys" / "devices" / "system" / "node" / "node1")
    path = root / "sys" / "devices" / "system" / "node" / "node1" / "cpulist"
    assert topology_error(root) == f"{path}: does not exist (cpu2 is in node1)"


def test_node_cpulist_contradicting_the_cpu_link(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, SysfsSpec(numa_per_socket=2))
    path = root / "sys" / "devices" / "system" / "node" / "node1" / "cpulist"
    path.write_text("3\n")
    assert topology_error(root) == (
        f"{path}: '3' does not list cpu2, which {root / CPU / 'cpu2'}/node1 puts there"
    )


def test_bad_node_cpulist(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    path = root / "sys" / "devices" / "system" / "node" / "node0" / "cpulist"
    path.write_text("0-1-2\n")
    assert topology_error(root).startswith(f"{path}: cpulist '0-1-2': ")


def test_kernel_without_numa_makes_each_socket_a_node(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, replace(two_socket_smt(), numa_dirs=False))
    assert not (root / "sys" / "devices" / "system" / "node").exists()
    topo = read_topology(root)
    assert topo.numa_nodes() == (0, 1)
    assert topo.cpus_in_numa(1) == topo.cpus_in_socket(1) == cpus("32-63,96-127")
    # the socket's L3 now spans the whole (socket-sized) node: the kubelet's socket id
    assert {(c.l3, c.uncore) for c in topo.cpus.values() if c.socket == 1} == {(1, 1)}


# --- the real host ------------------------------------------------------------------------


def test_this_host_reads() -> None:
    topo = read_topology(Path("/"))
    online = parse_cpulist(Path("/sys/devices/system/cpu/online").read_text())
    assert topo.online == format_cpulist(online)
    assert topo.cpu_ids() <= online
    assert topo.cpu_ids()  # a host with no usable CPU would not be running this test
    cpu_ids, sockets, numas, cores, uncores = topo.arrays()
    assert len(cpu_ids) == len(sockets) == len(numas) == len(cores) == len(uncores)
    assert set(cores) <= set(cpu_ids)
    assert len(cpu_ids) <= (os.cpu_count() or len(cpu_ids))
