"""Lifecycle of one plugin process: build the object graph, serve, publish, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from drafast.app.cluster import open_cluster
from drafast.app.drivers import DRIVERS
from drafast.app.ops import OpsServer, Probes, socket_liveness
from drafast.app.settings import RunOptions
from drafast.cdi import ClaimSpecWriter
from drafast.config import KubeletSettings, PluginSettings
from drafast.driver import HealthSource, KubeletDriver
from drafast.errors import ConfigError, DrafastError
from drafast.kubelet import KubeletServer
from drafast.plugin import HealthBoard, PluginCore
from drafast.runtime.metrics import Metrics
from drafast.state import ClaimStore
from drafast.types import DeviceHealth, DriverName, DriverResources, Health, NodeName

log = logging.getLogger(__name__)


class Plugin:
    """One running driver: kubelet sockets, claim handling, slice publishing, health."""

    def __init__(self, opts: RunOptions, driver: KubeletDriver | None = None) -> None:
        """``driver`` overrides the built-in driver named by ``opts.driver`` (custom drivers)."""
        self.opts = opts
        if driver is None:
            kind = DRIVERS.get(opts.driver)
            if kind is None:
                raise ConfigError(f"unknown driver {opts.driver!r}; known: {', '.join(DRIVERS)}")
            driver = kind.build(opts)
        self.driver: KubeletDriver = driver
        self.metrics = Metrics(opts.driver_name)
        self.cluster = open_cluster(
            opts.cluster,
            opts.kubeconfig,
            opts.driver_name,
            NodeName(opts.node_name),
            self.metrics,
            context=opts.context,
        )
        opts.plugin_dir.mkdir(parents=True, exist_ok=True)
        # Refuses a corrupted checkpoint.
        self.store = ClaimStore(opts.plugin_dir, metrics=self.metrics)
        self.cdi = ClaimSpecWriter(opts.cdi_dir, opts.driver_name, self.driver.cdi_class)
        self.core = PluginCore(
            PluginSettings(
                driver_name=DriverName(opts.driver_name),
                node_name=NodeName(opts.node_name),
                state_dir=opts.plugin_dir,
                cdi_dir=opts.cdi_dir,
                serialize=opts.serialize,
            ),
            self.driver,
            self.cluster.claims,
            self.store,
            self.cdi,
            metrics=self.metrics,
        )
        self.health = HealthBoard()
        self.server = KubeletServer(
            KubeletSettings(
                driver_name=DriverName(opts.driver_name),
                plugin_dir=opts.plugin_dir,
                registry_dir=opts.registry_dir,
                pod_uid=opts.pod_uid,
                shutdown_grace_seconds=opts.grace_seconds,
            ),
            self.core,
            self.health,
        )
        self.resources: DriverResources | None = None
        self.ops = (
            OpsServer(
                opts.bind_address,
                Probes(
                    live=socket_liveness(self.server.paths.registration, self.server.paths.dra),
                    ready=self._readiness,
                ),
                self.metrics,
            )
            if opts.bind_address
            else None
        )

    async def _readiness(self) -> str | None:
        if not self.server.registration.registered:
            return "not registered with the kubelet yet"
        if not self.cluster.published:
            return "ResourceSlices not published yet"
        return None

    async def _health_snapshot(self) -> list[DeviceHealth]:
        if isinstance(self.driver, HealthSource):
            return list(await self.driver.health())
        last = self.resources
        return [
            DeviceHealth(pool=p, device=d, health=Health.HEALTHY)
            for p, d in (last.devices() if last else {})
        ]

    async def publish(self) -> None:
        """Discover and hand the desired state to the cluster; errors are logged, not fatal."""
        try:
            self.resources = await self.driver.discover()
            await self.cluster.publish(self.resources)
        except DrafastError as err:  # recoverable by design: keep serving, retry next round
            log.error("publishing failed", extra={"error": str(err)})

    async def _publish_loop(self) -> None:
        while True:
            await asyncio.sleep(self.opts.resync_seconds)
            await self.publish()

    async def _health_loop(self) -> None:
        while True:
            try:
                await self.health.update(await self._health_snapshot())
            except DrafastError as err:
                log.error("health check failed", extra={"error": str(err)})
            await asyncio.sleep(self.opts.health_poll_seconds)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Plugin]:
        """Serve until the block exits; then stop accepting, finish in-flight calls, clean up."""
        await self.publish()  # desired state before registering, like the Go helper
        await self.health.update(await self._health_snapshot())
        try:
            await self.core.restore()
        except DrafastError as err:
            log.error("restoring driver state failed", extra={"error": str(err)})
        try:
            if leftovers := self.cdi.remove_leftovers():
                log.info("removed interrupted CDI spec writes", extra={"files": leftovers})
        except DrafastError as err:
            log.error("cleaning the CDI directory failed", extra={"error": str(err)})
        await self.server.start()
        if self.ops is not None:
            await self.ops.start()
        log.info(
            "plugin serving",
            extra={"driver": self.opts.driver_name, "node": self.opts.node_name},
        )
        try:
            async with asyncio.TaskGroup() as tg:
                loops = [
                    tg.create_task(self._publish_loop(), name="publish-loop"),
                    tg.create_task(self._health_loop(), name="health-loop"),
                    tg.create_task(self.cluster.run(), name="cluster"),
                ]
                try:
                    yield self
                finally:
                    for t in loops:
                        t.cancel()
        finally:
            if self.ops is not None:
                await self.ops.stop()
            await self.server.stop(self.opts.grace_seconds)
            await self.core.drain()
            await self.cluster.close()
            log.info("plugin stopped", extra={"driver": self.opts.driver_name})


async def serve_until_signalled(opts: RunOptions) -> int:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Plugin(opts).running():
        await stop.wait()
        log.info("signal received, shutting down")
    return 0
