from pathlib import Path

import pytest

from drafast.drivers.cpu.devices import Layout, build_layout
from drafast.drivers.cpu.settings import DeviceMode, GroupBy
from drafast.drivers.cpu.topology import read_topology
from drafast.testing.sysfs import SysfsSpec, two_socket_smt, write_sysfs
from drafast.types import DriverName

D = DriverName("dra.cpu")


def layout(
    tmp_path: Path,
    spec: SysfsSpec,
    mode: DeviceMode,
    group_by: GroupBy,
    reserved: frozenset[int] = frozenset(),
) -> Layout:
    topo = read_topology(write_sysfs(tmp_path, spec))
    return build_layout(topo, frozenset(reserved), driver=D, mode=mode, group_by=group_by)


def test_grouped_by_numa_node_as_the_peer_publishes(tmp_path: Path) -> None:
    out = layout(tmp_path, two_socket_smt(), DeviceMode.GROUPED, GroupBy.NUMA_NODE, {0, 64})
    assert [d.name for d in out.devices] == [f"cpudevnuma{n:03d}" for n in range(4)]
    first = out.devices[0]
    assert first.allow_multiple_allocations
    assert first.capacity["dra.cpu/cpu"].value == "30"  # 32 CPUs of node 0 minus 2 reserved
    assert dict(first.attributes) == {
        "resource.kubernetes.io/numaNode": 0,
        "dra.cpu/socketID": 0,
        "dra.cpu/smtEnabled": True,
        "dra.cpu/numaNodeID": 0,
        "dra.net/numaNode": 0,
        "dra.cpu/numCPUs": 30,
    }
    assert out.devices[2].attributes["dra.cpu/socketID"] == 1
    assert out.cpus["cpudevnuma000"] == frozenset(range(1, 16)) | frozenset(range(65, 80))  # type: ignore[index]
    assert not out.allocatable & {0, 64}


def test_grouped_by_socket_and_machine(tmp_path: Path) -> None:
    sockets = layout(tmp_path, two_socket_smt(), DeviceMode.GROUPED, GroupBy.SOCKET)
    assert [d.name for d in sockets.devices] == ["cpudevsocket000", "cpudevsocket001"]
    assert sockets.devices[1].capacity["dra.cpu/cpu"].value == "64"
    assert set(sockets.devices[0].attributes) == {
        "dra.cpu/socketID",
        "dra.cpu/smtEnabled",
        "dra.cpu/numCPUs",
    }
    machine = layout(tmp_path / "m", two_socket_smt(), DeviceMode.GROUPED, GroupBy.MACHINE, {5})
    [dev] = machine.devices
    assert dev.name == "cpudevmachine" and dev.capacity["dra.cpu/cpu"].value == "127"


def test_individual_devices_put_smt_siblings_next_to_each_other(tmp_path: Path) -> None:
    out = layout(tmp_path, two_socket_smt(), DeviceMode.INDIVIDUAL, GroupBy.NUMA_NODE, {1})
    cpu_of = {d.name: d.attributes["dra.cpu/cpuID"] for d in out.devices}
    assert len(out.devices) == 127
    # cpu 0 and its sibling 64 are cpudev000/001; cpu 1 is reserved, so its sibling 65 is a
    # core of its own, ordered by its id (as the peer orders core groups by their first CPU)
    assert [cpu_of[f"cpudev{i:03d}"] for i in range(5)] == [0, 64, 2, 66, 3]
    assert cpu_of["cpudev126"] == 65
    dev = out.devices[1]
    assert dev.attributes["dra.cpu/coreID"] == 0  # the kubelet's core id: its lowest CPU
    assert dev.attributes["dra.cpu/coreType"] == "standard"
    assert dev.attributes["resource.kubernetes.io/numaNode"] == 0
    assert dev.attributes["dra.cpu/cacheL3ID"] == 0
    assert not dev.capacity and not dev.allow_multiple_allocations
    # a core id is unique on the machine (the peer's raw core_id repeats on socket 1)
    assert (
        out.devices[64].attributes["dra.cpu/coreID"] != out.devices[0].attributes["dra.cpu/coreID"]
    )


@pytest.mark.parametrize("mode", list(DeviceMode))
def test_every_cpu_reserved_publishes_nothing(tmp_path: Path, mode: DeviceMode) -> None:
    spec = SysfsSpec(cores_per_numa=2)
    out = layout(tmp_path, spec, mode, GroupBy.NUMA_NODE, {0, 1})
    assert out.devices == () and out.allocatable == frozenset()
