"""The parts a role is made of. Each has ``start`` (quick; fails the start-up with a one-line
error), ``stop`` (idempotent) and, if it has background work, ``run`` (a named task in the
process's task group, cancelled at shutdown). :mod:`drafast.app.lifecycle` starts them in order
and stops them in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from drafast.cdi import ClaimSpecWriter
from drafast.driver import HealthSource, PushingSource, ResourceSource, Runnable
from drafast.errors import DrafastError
from drafast.kubelet import KubeletServer
from drafast.plugin import HealthBoard, PluginCore
from drafast.types import DeviceHealth, DriverResources, Health

if TYPE_CHECKING:  # the cluster backends build components themselves (the Lease gate)
    from drafast.app.cluster import Cluster
    from drafast.app.ops import OpsServer
    from drafast.nri import NriPlugin

log = logging.getLogger(__name__)


class Component(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class Looping(Protocol):
    async def run(self) -> None: ...


class OpsComponent:
    """``/livez``, ``/readyz`` and ``/metrics``: first up, last down."""

    name = "ops"

    def __init__(self, server: OpsServer) -> None:
        self.server = server

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()


class Publisher:
    """Desired slices from the driver to the cluster: once at start (before the kubelet learns
    about the plugin, like the Go helper), then on every resync and every pushed change."""

    name = "publisher"

    def __init__(self, source: ResourceSource, cluster: Cluster, resync_seconds: float) -> None:
        self.source = source
        self.cluster = cluster
        self.resync_seconds = resync_seconds
        self.resources: DriverResources | None = None
        self.after: Callable[[], Awaitable[object]] | None = None
        """The background work waits for this (a node: until the kubelet plugin serves and is
        registered). Its first round (credentials, TLS handshake, the slice list and writes)
        would otherwise compete with the plugin's start for the GIL."""

    async def publish(self, resources: DriverResources | None = None) -> None:
        """Discover (unless given) and hand over; errors are logged, the next round retries."""
        try:
            self.resources = resources or await self.source.discover()
            await self.cluster.publish(self.resources)
        except DrafastError as err:
            log.error("publishing failed", extra={"error": str(err)})

    async def start(self) -> None:
        await self.publish()

    async def run(self) -> None:
        if self.after is not None:
            await self.after()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.cluster.run(), name="cluster-sync")
            tg.create_task(self._resync(), name="slice-resync")
            if isinstance(self.source, PushingSource):
                tg.create_task(self._pushed(self.source), name="slice-push")

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            await self.publish()

    async def _pushed(self, source: PushingSource) -> None:
        async for resources in source.changes():
            await self.publish(resources)

    async def stop(self) -> None:
        await self.cluster.close()


class HealthReporter:
    """Keeps the kubelet's health board current: the driver's own health, or every published
    device healthy for drivers without a :class:`HealthSource`."""

    name = "health"

    def __init__(
        self,
        source: object,
        board: HealthBoard,
        published: Callable[[], DriverResources | None],
        period: float,
    ) -> None:
        self.source = source
        self.board = board
        self.published = published
        self.period = period

    async def snapshot(self) -> list[DeviceHealth]:
        if isinstance(self.source, HealthSource):
            return list(await self.source.health())
        last = self.published()
        return [
            DeviceHealth(pool=p, device=d, health=Health.HEALTHY)
            for p, d in (last.devices() if last else {})
        ]

    async def start(self) -> None:
        await self.board.update(await self.snapshot())

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.board.update(await self.snapshot())
            except DrafastError as err:
                log.error("health check failed", extra={"error": str(err)})

    async def stop(self) -> None:
        return None


class DriverLoop:
    """A driver's own loop (:class:`drafast.driver.Runnable`)."""

    name = "driver-loop"

    def __init__(self, driver: Runnable) -> None:
        self.driver = driver

    async def start(self) -> None:
        return None

    async def run(self) -> None:
        await self.driver.run()

    async def stop(self) -> None:
        return None


class KubeletPlugin:
    """The kubelet-facing part: restore driver state from the checkpoint, clear interrupted CDI
    writes, then serve DRA and registration. Stop: registration first, in-flight calls get the
    grace period, per-claim work that outlived a cancelled call is awaited."""

    name = "kubelet-plugin"

    def __init__(
        self,
        core: PluginCore,
        server: KubeletServer,
        cdi: ClaimSpecWriter,
        grace_seconds: float,
    ) -> None:
        self.core = core
        self.server = server
        self.cdi = cdi
        self.grace_seconds = grace_seconds
        self.serving = asyncio.Event()
        """Set once the DRA and registration servers accept calls."""

    async def start(self) -> None:
        await self.core.restore()  # a checkpoint it cannot read stops the start, naming it
        try:
            if leftovers := self.cdi.remove_leftovers():
                log.info("removed interrupted CDI spec writes", extra={"files": leftovers})
        except DrafastError as err:
            log.error("cleaning the CDI directory failed", extra={"error": str(err)})
        try:
            await self.server.start()
        except BaseException:
            await self.server.stop(0)  # no socket left behind by a failed start
            raise
        self.serving.set()

    async def stop(self) -> None:
        try:
            await self.server.stop(self.grace_seconds)
        finally:
            await self.core.drain()


class RuntimePlugin:
    """The runtime-facing part of a driver with container hooks: an NRI plugin that connects
    once the kubelet plugin serves (claims restored from the checkpoint first, so the runtime's
    first Synchronize meets the full state) and reconnects by itself. The kubelet side keeps
    serving while the runtime is away; ``/readyz`` says why it is not ready."""

    name = "nri-plugin"

    def __init__(self, plugin: NriPlugin, after: Callable[[], Awaitable[object]]) -> None:
        self.plugin = plugin
        self.after = after

    async def start(self) -> None:
        return None

    async def run(self) -> None:
        await self.after()
        await self.plugin.run()

    async def stop(self) -> None:
        return None


class Gate:
    """Runs ``wait`` at start (e.g. until this replica leads) and ``watch`` as its loop (e.g.
    until the lease is lost, which then fails the task group and stops every writer)."""

    def __init__(
        self,
        name: str,
        wait: Callable[[], Awaitable[None]],
        watch: Callable[[], Awaitable[None]],
        release: Callable[[], Awaitable[object]],
    ) -> None:
        self.name = name
        self._wait, self._watch, self._release = wait, watch, release

    async def start(self) -> None:
        await self._wait()

    async def run(self) -> None:
        await self._watch()

    async def stop(self) -> None:
        with contextlib.suppress(DrafastError):
            await self._release()
