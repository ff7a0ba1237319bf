"""A controller-role driver for the e2e tests: it publishes a cluster-level pool (no Node owner,
``allNodes``) and runs a loop of its own, like the composable driver's Deployment will."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from drafast.config import setting
from drafast.driver import DriverContext, DriverKind
from drafast.types import (
    Device,
    DeviceName,
    DriverName,
    DriverResources,
    Pool,
    PoolName,
    Slice,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FabricSettings:
    devices: int = setting(3, flag="--fabric-devices", env="FABRIC_DEVICES", help="devices")


class FabricController:
    def __init__(self, settings: FabricSettings, ctx: DriverContext) -> None:
        self.name = ctx.driver_name
        self.count = settings.devices
        self.loops = 0

    async def discover(self) -> DriverResources:
        devices = tuple(Device(name=DeviceName(f"gpu-{i}")) for i in range(self.count))
        pool = Pool(slices=(Slice(devices=devices),), all_nodes=True)
        return DriverResources(pools={PoolName("fabric"): pool})

    async def run(self) -> None:
        while True:
            self.loops += 1
            await asyncio.sleep(1)


KIND = DriverKind(
    name="fabric-demo",
    default_driver_name=DriverName("fabric.example.com"),
    settings=FabricSettings,
    build=FabricController,
    roles=("controller",),
)
