"""The CPU driver's settings: one field per flag, env var and YAML key (the peer's names)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from drafast.config import a_directory, setting
from drafast.drivers.cpu.cpulist import parse_cpulist
from drafast.errors import CpuListError


class DeviceMode(enum.StrEnum):
    GROUPED = "grouped"
    """One device per group with consumable capacity ``<driver>/cpu``; the driver picks CPUs."""
    INDIVIDUAL = "individual"
    """One device per allocatable CPU; the scheduler picks CPUs."""


class GroupBy(enum.StrEnum):
    NUMA_NODE = "numanode"
    SOCKET = "socket"
    MACHINE = "machine"
    """One device; the claim's opaque config names the cpuset (an external scheduler picks)."""


def _cpu_list(value: str | None) -> str | None:
    try:
        parse_cpulist(value or "")
    except CpuListError as err:
        return str(err)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CpuDriverSettings:
    host_root: Path = setting(
        Path("/"),
        flag="--host-root",
        env="HOST_ROOT",
        help="where the host's /sys is visible",
        check=a_directory,
    )
    cpu_device_mode: DeviceMode = setting(
        DeviceMode.GROUPED,
        flag="--cpu-device-mode",
        env="CPU_DEVICE_MODE",
        help="publish groups with CPU capacity, or one device per CPU",
        file_key="cpuDeviceMode",
    )
    group_by: GroupBy = setting(
        GroupBy.NUMA_NODE,
        flag="--group-by",
        env="GROUP_BY",
        help="grouped mode: one device per NUMA node, socket, or the whole machine",
        file_key="groupBy",
    )
    reserved_cpus: str = setting(
        "",
        flag="--reserved-cpus",
        env="RESERVED_CPUS",
        metavar="LIST",
        help="CPUs (cpulist, e.g. 0-1) kept out of devices, capacity and the shared pool",
        check=_cpu_list,
        file_key="reservedCPUs",
    )
    full_cores: bool = setting(
        False,
        flag="--full-cores",
        env="CPU_FULL_CORES",
        help="default for claims: whole physical cores only (refuse a count that splits a core)",
    )
    spread_numa: bool = setting(
        False,
        flag="--spread-numa",
        env="CPU_SPREAD_NUMA",
        help="default for claims: spread CPUs evenly across the group's NUMA nodes",
    )

    @property
    def reserved(self) -> frozenset[int]:
        return parse_cpulist(self.reserved_cpus)
