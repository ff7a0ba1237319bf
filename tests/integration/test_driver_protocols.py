"""The optional driver protocols through a real process graph: a driver that pushes its slices
(``PushingSource``) and runs a loop of its own (``Runnable``) in ``dir:`` mode."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drafast.driver import PushingSource, Runnable
from drafast.testing import plugin_options, running_plugin, wait_until
from drafast.types import (
    Claim,
    ClaimRef,
    Device,
    DeviceName,
    DriverName,
    DriverResources,
    NodeName,
    Pool,
    PoolName,
    PreparedClaim,
    Slice,
)

pytestmark = pytest.mark.integration


class HotplugDriver:
    name = DriverName("hotplug.example.com")
    cdi_class = "hotplug"

    def __init__(self) -> None:
        self.count = 1
        self.plugged = asyncio.Queue[int]()
        self.loop_ran = asyncio.Event()

    def _resources(self) -> DriverResources:
        devices = tuple(Device(name=DeviceName(f"dev-{i}")) for i in range(self.count))
        pool = Pool(slices=(Slice(devices=devices),), node_name=NodeName("node-1"))
        return DriverResources(pools={PoolName("node-1"): pool})

    async def discover(self) -> DriverResources:
        return self._resources()

    async def changes(self) -> AsyncIterator[DriverResources]:
        while True:
            self.count = await self.plugged.get()
            yield self._resources()

    async def run(self) -> None:
        self.loop_ran.set()
        await asyncio.Event().wait()

    async def prepare(self, claim: Claim) -> PreparedClaim:
        return PreparedClaim(devices=())

    async def unprepare(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        return None


async def test_pushed_slices(tmp_path: Path) -> None:
    """Pushed changes are published without waiting for a resync."""
    driver = HotplugDriver()
    assert isinstance(driver, PushingSource) and isinstance(driver, Runnable)
    opts = plugin_options(tmp_path)  # resync every hour: only a push can publish in time
    async with running_plugin(opts, driver) as t:

        def names() -> list[str]:
            slices = [o for _, o in t.store.list("resourceslices")]
            return sorted(d["name"] for s in slices for d in s["spec"]["devices"])

        assert names() == ["dev-0"]
        await asyncio.wait_for(driver.loop_ran.wait(), 10)  # its own loop runs too
        await driver.plugged.put(3)
        await wait_until("the pushed devices", lambda: names() == ["dev-0", "dev-1", "dev-2"], 10)
