"""The CPU driver: exclusive cpusets through DRA, pinning and a shared pool through NRI.

A drop-in for kubernetes-sigs/dra-driver-cpu: the same device names, attributes, capacity key,
``DRA_CPUSET_<claimUID>`` environment variable, config file and opaque claim config. Topology
comes from sysfs under an injectable host root; CPUs are packed by the native allocator
(``drafast._native.cpuset_*``, the kubelet static policy's algorithm); allocations are durable in
the core's checkpoint; containers are pinned through :class:`drafast.driver.ContainerHooks`.

Imports the contracts (drafast.driver, drafast.types, drafast.config, drafast.errors) and
drafast._native; never another driver, the plugin core, drafast.state or an edge.
"""

from __future__ import annotations

from drafast.driver import DriverContext, DriverKind
from drafast.drivers.cpu.config import API_VERSION, CpuConfig, parse_config
from drafast.drivers.cpu.driver import DEFAULT_DRIVER_NAME, CpuDriver
from drafast.drivers.cpu.settings import CpuDriverSettings, DeviceMode, GroupBy
from drafast.errors import ConfigError


def build(settings: CpuDriverSettings, ctx: DriverContext) -> CpuDriver:
    if ctx.node_name is None:
        raise ConfigError("the cpu driver runs only as a node plugin (--role node)")
    return CpuDriver(settings, node_name=ctx.node_name, driver_name=ctx.driver_name)


KIND = DriverKind(
    name="cpu",
    default_driver_name=DEFAULT_DRIVER_NAME,
    settings=CpuDriverSettings,
    build=build,
    description="exclusive CPUs through DRA; pinning and a shared pool through NRI",
)

__all__ = [
    "API_VERSION",
    "DEFAULT_DRIVER_NAME",
    "KIND",
    "CpuConfig",
    "CpuDriver",
    "CpuDriverSettings",
    "DeviceMode",
    "GroupBy",
    "parse_config",
]
