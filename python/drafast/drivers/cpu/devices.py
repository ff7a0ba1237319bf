"""The device model, the peer's exactly (``pkg/device/builder.go``): what the ResourceSlice
publishes and which CPUs each published device stands for.

* grouped: one device per NUMA node (``cpudevnuma000``), socket (``cpudevsocket000``) or the
  machine (``cpudevmachine``), ``allowMultipleAllocations`` and consumable capacity
  ``<driver>/cpu`` = its allocatable CPUs;
* individual: one device per allocatable CPU (``cpudev000``...), numbered core by core so SMT
  siblings get adjacent names (the scheduler takes contiguous devices, so siblings stay together).

Reserved CPUs are in no device and no capacity. ``coreID`` is the kubelet's core id (the lowest
CPU of the physical core), unique on the machine; the peer publishes the raw sysfs ``core_id``,
which repeats across sockets, so ``matchAttribute: coreID`` could pair CPUs of different sockets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from drafast.drivers.cpu.settings import DeviceMode, GroupBy
from drafast.drivers.cpu.topology import CpuTopology
from drafast.types import AttributeValue, Capacity, Device, DeviceName, DriverName

NUMA_NODE = "resource.kubernetes.io/numaNode"
"""The standard attribute (KEP-5491); the peer also keeps two legacy spellings."""
LEGACY_NET_NUMA = "dra.net/numaNode"


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """The published devices and the CPUs behind each."""

    devices: tuple[Device, ...]
    cpus: Mapping[DeviceName, frozenset[int]]
    mode: DeviceMode
    group_by: GroupBy

    @property
    def allocatable(self) -> frozenset[int]:
        return frozenset().union(*self.cpus.values())


def capacity_key(driver: DriverName) -> str:
    return f"{driver}/cpu"


def build_layout(
    topo: CpuTopology,
    reserved: frozenset[int],
    *,
    driver: DriverName,
    mode: DeviceMode,
    group_by: GroupBy,
) -> Layout:
    if mode is DeviceMode.INDIVIDUAL:
        return _individual(topo, reserved, driver, group_by)
    return _grouped(topo, reserved, driver, group_by)


def _grouped(
    topo: CpuTopology, reserved: frozenset[int], driver: DriverName, group_by: GroupBy
) -> Layout:
    groups: dict[DeviceName, frozenset[int]] = {}
    attrs: dict[DeviceName, dict[str, AttributeValue]] = {}
    smt = {f"{driver}/smtEnabled": topo.smt_enabled}
    if group_by is GroupBy.MACHINE:
        name = DeviceName("cpudevmachine")
        groups[name] = frozenset(topo.cpus) - reserved
        attrs[name] = dict(smt)
    else:
        by_numa = group_by is GroupBy.NUMA_NODE
        keyed: dict[int, set[int]] = {}
        for cpu in topo.cpus.values():
            keyed.setdefault(cpu.numa if by_numa else cpu.socket, set()).add(cpu.id)
        for key in sorted(keyed):
            cpus = frozenset(keyed[key]) - reserved
            if not cpus:
                continue
            first = topo.cpus[min(cpus)]
            if by_numa:
                name = DeviceName(f"cpudevnuma{key:03d}")
                attrs[name] = {
                    NUMA_NODE: key,
                    f"{driver}/socketID": first.socket,
                    **smt,
                    f"{driver}/numaNodeID": key,
                    LEGACY_NET_NUMA: key,
                }
            else:
                name = DeviceName(f"cpudevsocket{key:03d}")
                attrs[name] = {f"{driver}/socketID": key, **smt}
            groups[name] = cpus
    devices = tuple(
        Device(
            name=name,
            attributes={**attrs[name], f"{driver}/numCPUs": len(cpus)},
            capacity={capacity_key(driver): Capacity(value=str(len(cpus)))},
            allow_multiple_allocations=True,
        )
        for name, cpus in groups.items()
        if cpus
    )
    return Layout(devices=devices, cpus=groups, mode=DeviceMode.GROUPED, group_by=group_by)


def _individual(
    topo: CpuTopology, reserved: frozenset[int], driver: DriverName, group_by: GroupBy
) -> Layout:
    order: list[int] = []
    for cpu_id in sorted(topo.cpus):  # core by core, in the order of each core's first CPU
        if cpu_id in reserved or cpu_id in order:
            continue
        core = sorted(c for c in (cpu_id, *topo.cpus[cpu_id].siblings) if c in topo.cpus)
        order.extend(c for c in core if c not in reserved and c not in order)
    cpus: dict[DeviceName, frozenset[int]] = {}
    devices = []
    for index, cpu_id in enumerate(order):
        cpu = topo.cpus[cpu_id]
        name = DeviceName(f"cpudev{index:03d}")
        cpus[name] = frozenset((cpu_id,))
        attributes: dict[str, AttributeValue] = {
            f"{driver}/cpuID": cpu_id,
            f"{driver}/coreID": cpu.core,
            f"{driver}/coreType": str(cpu.core_type),
            NUMA_NODE: cpu.numa,
            f"{driver}/socketID": cpu.socket,
            f"{driver}/smtEnabled": topo.smt_enabled,
            f"{driver}/numaNodeID": cpu.numa,
            LEGACY_NET_NUMA: cpu.numa,
        }
        if cpu.l3 >= 0:
            attributes[f"{driver}/cacheL3ID"] = cpu.l3
        devices.append(Device(name=name, attributes=attributes))
    return Layout(devices=tuple(devices), cpus=cpus, mode=DeviceMode.INDIVIDUAL, group_by=group_by)
