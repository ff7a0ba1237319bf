"""The node tests' second driver: drafast's file driver with every file *shareable*.

The file driver publishes each file as an ordinary device, which the scheduler allocates to one
claim at a time. This wrapper publishes the files with ``allowMultipleAllocations`` (so separate
claims can get the same file: every allocation then carries its own ``shareID``) and adds an
environment variable per prepared device to the CDI edits (``DRAFAST_SHARED_<DEVICE>=<path>``), so
the tests can see CDI env injection through the real containerd. Everything else -- flags,
settings, wiring, sockets, checkpoint, publishing -- is ``drafast run file``'s own code::

    python tests/e2e/node/shared_driver.py --driver-name shared.drafast.dev --node-name vm ...
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace

from drafast.app.cli import build_parser, run_async
from drafast.app.drivers import DRIVERS
from drafast.app.logs import setup_logging
from drafast.app.runner import Plugin
from drafast.app.settings import RunOptions, resolve
from drafast.driver import HealthSource, KubeletDriver, RestoringDriver
from drafast.types import (
    Claim,
    ClaimRef,
    DeviceHealth,
    DriverName,
    DriverResources,
    PreparedClaim,
)

ENV_PREFIX = "DRAFAST_SHARED_"


def env_name(device: str) -> str:
    return ENV_PREFIX + device.upper().replace("-", "_").replace(".", "_")


class SharedFiles:
    """Delegates to the file driver; marks devices shareable and adds one env edit each."""

    def __init__(self, inner: KubeletDriver) -> None:
        self.inner = inner

    @property
    def name(self) -> DriverName:
        return self.inner.name

    @property
    def cdi_class(self) -> str:
        return self.inner.cdi_class

    async def discover(self) -> DriverResources:
        res = await self.inner.discover()
        pools = {
            name: replace(
                pool,
                slices=tuple(
                    replace(
                        sl,
                        devices=tuple(
                            replace(d, allow_multiple_allocations=True) for d in sl.devices
                        ),
                    )
                    for sl in pool.slices
                ),
            )
            for name, pool in res.pools.items()
        }
        return DriverResources(pools=pools)

    async def prepare(self, claim: Claim) -> PreparedClaim:
        prepared = await self.inner.prepare(claim)
        devices = []
        for dev in prepared.devices:
            path = dev.edits.mounts[0].host_path if dev.edits.mounts else ""
            env = (*dev.edits.env, f"{env_name(dev.device)}={path}")
            devices.append(replace(dev, edits=replace(dev.edits, env=env)))
        return replace(prepared, devices=tuple(devices))

    async def unprepare(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        await self.inner.unprepare(ref, prepared)

    async def restore(self, prepared: Sequence[tuple[ClaimRef, PreparedClaim]]) -> None:
        if isinstance(self.inner, RestoringDriver):
            await self.inner.restore(prepared)

    async def health(self) -> Sequence[DeviceHealth]:
        if isinstance(self.inner, HealthSource):
            return await self.inner.health()
        return ()


async def serve(opts: RunOptions) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    driver = SharedFiles(DRIVERS["file"].build(opts))
    async with Plugin(opts, driver).running():
        await stop.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(["run", "file", *(sys.argv[1:] if argv is None else argv)])
    opts = resolve(args, {}, "shared.drafast.dev")
    setup_logging(opts.log_format, opts.log_level)
    return run_async(serve(opts))


if __name__ == "__main__":
    sys.exit(main())
