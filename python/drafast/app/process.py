"""One ``drafast run`` process: build the object graph for a role, then serve until stopped.

``node``: ops server, publisher (pools owned by this Node), health, driver loops, kubelet plugin.
``controller``: ops server, Lease (leader election; losing it stops the process), publisher
(pools with no Node owner), driver loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drafast.app import schema, version
from drafast.app.cluster import open_cluster
from drafast.app.components import (
    Component,
    DriverLoop,
    HealthReporter,
    KubeletPlugin,
    OpsComponent,
    Publisher,
    RuntimePlugin,
)
from drafast.app.drivers import find_kind
from drafast.app.lifecycle import running
from drafast.app.settings import Role, RunOptions, driver_settings
from drafast.cdi import ClaimSpecWriter
from drafast.config import KubeletSettings, PluginSettings
from drafast.driver import (
    ContainerHooks,
    DriverContext,
    DriverKind,
    KubeletDriver,
    ResourceSource,
    Runnable,
)
from drafast.errors import ConfigError
from drafast.kubelet import KubeletServer
from drafast.plugin import HealthBoard, PluginCore
from drafast.runtime.iojobs import PROCESS_THREADS, IoJobs
from drafast.runtime.memtrim import MemoryTrimmer
from drafast.runtime.metrics import Metrics
from drafast.state import ClaimStore
from drafast.types import DriverName, NodeName

if TYPE_CHECKING:  # the ops server (prometheus exposition, http) only with --bind-address
    from drafast.app.ops import OpsServer

log = logging.getLogger(__name__)

KUBELET_FIRST_SECONDS = 1.0
NRI_INDEX = "00"
"""The NRI plugin index (the peer's): plugins are called in index order, first claim on a
container's cpuset wins."""
"""How long background cluster work waits for the kubelet's registration after the plugin
serves (the kubelet's own GetInfo deadline)."""


def drafast_version() -> str:
    return version.drafast_version()


class DriverProcess:
    """One running driver in one role, built from ``kind`` (default: the one ``opts.driver``
    names). ``driver`` instead hands in a driver object of your own (tests); its ``name`` is the
    driver name unless ``opts.driver_name`` says otherwise, and the two must then agree."""

    def __init__(
        self,
        opts: RunOptions,
        driver: Any | None = None,
        *,
        kind: DriverKind[Any] | None = None,
        io: IoJobs | None = None,
    ) -> None:
        build = None if driver is not None else (kind or find_kind(opts.driver))
        name = opts.driver_name or _own_name(driver, build)
        if driver is not None and getattr(driver, "name", name) != name:
            raise ConfigError(f"driver reports name {driver.name!r} but runs as {name!r}")
        self.opts = opts = _with_name(opts, name)
        self.role = Role(opts.role)
        self._owns_io = io is None
        self.io = io or IoJobs("drafast-io", PROCESS_THREADS)
        try:
            self._build(driver, build)
        except BaseException:
            self._close_io()  # a failed start leaves no worker threads behind
            raise

    def _build(self, driver: Any | None, build: DriverKind[Any] | None) -> None:
        opts = self.opts
        self.metrics = Metrics(opts.driver_name)
        node = NodeName(opts.node_name) if self.role is Role.NODE else None
        self.cluster = open_cluster(
            opts.cluster,
            opts.kubeconfig,
            opts.driver_name,
            node,
            self.metrics,
            context=opts.context,
        )
        if build is not None:
            ctx = DriverContext(
                driver_name=DriverName(opts.driver_name),
                node_name=node,
                role="node" if self.role is Role.NODE else "controller",
                io=self.io,
                claim_status=self.cluster.claim_status,
                node_labels=self.cluster.node_labels,
                allocated_claims=self.cluster.allocated_claims,
            )
            driver = build.build(driver_settings(opts, build), ctx)
        self.driver = driver
        self.health = HealthBoard()
        self.publisher: Publisher | None = None
        if isinstance(driver, ResourceSource):
            self.publisher = Publisher(driver, self.cluster, opts.resync_seconds)
        self.ops: OpsServer | None = None
        self.components = (
            self._node_components() if self.role is Role.NODE else self._controller_components()
        )

    # ------------------------------------------------------------------ node role

    def _node_components(self) -> list[Component]:
        opts = self.opts
        if not isinstance(self.driver, KubeletDriver):
            raise ConfigError(f"driver {opts.driver_name} cannot run as a node plugin")
        self.store = ClaimStore(_plugin_dir(opts), io=self.io, metrics=self.metrics)
        self.cdi = ClaimSpecWriter(opts.cdi_dir, opts.driver_name, self.driver.cdi_class)
        self.core = PluginCore(
            PluginSettings(driver_name=DriverName(opts.driver_name), serialize=opts.serialize),
            self.driver,
            self.cluster.claims,
            self.store,
            self.cdi,
            metrics=self.metrics,
        )
        self.server = KubeletServer(
            KubeletSettings(
                driver_name=DriverName(opts.driver_name),
                plugin_dir=opts.plugin_path,
                registry_dir=opts.registry_dir,
                pod_uid=opts.pod_uid,
                shutdown_grace_seconds=opts.grace_seconds,
            ),
            self.core,
            self.health,
        )
        parts: list[Component] = []
        if opts.bind_address:
            from drafast.app.ops import OpsServer, Probes, socket_liveness

            live = socket_liveness(self.server.paths.registration, self.server.paths.dra)
            self.ops = OpsServer(opts.bind_address, Probes(live, self._node_ready), self.metrics)
            parts.append(OpsComponent(self.ops))
        if self.publisher is not None:
            parts.append(self.publisher)
        publisher = self.publisher
        parts.append(
            HealthReporter(
                self.driver,
                self.health,
                lambda: publisher.resources if publisher else None,
                opts.health_poll_seconds,
            )
        )
        if isinstance(self.driver, Runnable):
            parts.append(DriverLoop(self.driver))
        plugin = KubeletPlugin(self.core, self.server, self.cdi, opts.grace_seconds)
        if opts.memory_trim_idle_seconds > 0:
            core = self.core
            parts.append(MemoryTrimmer(lambda: core.calls, opts.memory_trim_idle_seconds))
        if self.publisher is not None:
            self.publisher.after = functools.partial(self._kubelet_first, plugin)
        parts.append(plugin)
        self.runtime: RuntimePlugin | None = None
        if isinstance(self.driver, ContainerHooks) and opts.nri_socket:
            from drafast.nri import NriPlugin  # only drivers with container hooks speak NRI

            nri = NriPlugin(
                Path(opts.nri_socket), name=opts.driver_name, index=NRI_INDEX, hooks=self.driver
            )
            self.runtime = RuntimePlugin(nri, plugin.serving.wait)
            parts.append(self.runtime)
        return parts

    async def _kubelet_first(self, plugin: KubeletPlugin) -> None:
        """The kubelet first, then the API server: background cluster work waits until the
        plugin serves and the kubelet has registered it (or a second has passed), so its GetInfo
        and Notify do not queue for the GIL behind the API client's imports and TLS setup."""
        await plugin.serving.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self.server.registration.registered_event.wait(), KUBELET_FIRST_SECONDS
            )

    async def _node_ready(self) -> str | None:
        if not self.server.registration.registered:
            return "not registered with the kubelet yet"
        if self.runtime is not None and not (status := self.runtime.plugin.status).synchronized:
            return f"NRI: {status.reason or 'not synchronized with the runtime yet'}"
        if not self.cluster.published:
            return "ResourceSlices not published yet"
        return None

    # ------------------------------------------------------------------ controller role

    def _controller_components(self) -> list[Component]:
        opts = self.opts
        parts: list[Component] = []
        if opts.bind_address:
            from drafast.app.ops import OpsServer, Probes

            self.ops = OpsServer(
                opts.bind_address, Probes(_always_live, self._controller_ready), self.metrics
            )
            parts.append(OpsComponent(self.ops))
        parts.extend(self.cluster.leader_election(opts))
        if self.publisher is not None:
            parts.append(self.publisher)
        if isinstance(self.driver, Runnable):
            parts.append(DriverLoop(self.driver))
        if len(parts) <= 1 + bool(self.ops):
            raise ConfigError(f"driver {opts.driver_name} has nothing to do as a controller")
        return parts

    async def _controller_ready(self) -> str | None:
        if self.publisher is not None and not self.cluster.published:
            return "ResourceSlices not published yet"
        return None

    # ------------------------------------------------------------------ life cycle

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[DriverProcess]:
        """Serve until the block exits; then stop in reverse order and clean up."""
        log.info(
            "drafast starting",
            extra={
                "version": drafast_version(),
                "driver": self.opts.driver,
                "settings": schema.describe(self.opts),
            },
        )
        try:
            async with running(self.components):
                log.info(
                    "serving",
                    extra={"driver": self.opts.driver_name, "role": str(self.role)},
                )
                yield self
        finally:
            self._close_io()
            log.info("stopped", extra={"driver": self.opts.driver_name})

    def _close_io(self) -> None:
        if self._owns_io:
            self.io.close()


def _own_name(driver: Any | None, kind: DriverKind[Any] | None) -> str:
    """The driver name when ``--driver-name`` is not set: the KIND's, or the object's."""
    name = kind.default_driver_name if kind is not None else getattr(driver, "name", "")
    if not name:
        raise ConfigError("no driver name: set --driver-name")
    return str(name)


async def _always_live() -> str | None:
    return None


def _with_name(opts: RunOptions, name: str) -> RunOptions:
    from dataclasses import replace

    return opts if opts.driver_name == name else replace(opts, driver_name=name)


def _plugin_dir(opts: RunOptions) -> Path:
    path = opts.plugin_path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"--plugin-dir {path}: not a directory") from None
    except OSError as err:
        raise ConfigError(f"--plugin-dir {path}: cannot create: {err.strerror}") from err
    if not path.is_dir():
        raise ConfigError(f"--plugin-dir {path}: not a directory")
    return path
