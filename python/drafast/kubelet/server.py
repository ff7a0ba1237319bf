"""Life cycle of the two gRPC servers a kubelet plugin runs.

Order matters. Start: the DRA server first, so the endpoint is live before the kubelet learns it
from registration. Stop: registration first (removing its socket is how the kubelet notices we
are gone), then the DRA server with a grace period so in-flight calls can finish.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import grpc
import grpc.aio

from drafast.config import KubeletSettings
from drafast.errors import SocketError
from drafast.kubelet import sockets
from drafast.kubelet.dra import DRAService
from drafast.kubelet.handler import ClaimHandler
from drafast.kubelet.health import Clock, HealthService
from drafast.kubelet.methods import supported_versions
from drafast.kubelet.registration import RegistrationService, RegistrationState
from drafast.plugin.health import HealthBoard

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Served:
    """One running grpc.aio server and the socket file it owns."""

    server: grpc.aio.Server
    path: Path
    ident: sockets.SocketIdentity | None

    async def stop(self, grace: float | None) -> None:
        try:
            await self.server.stop(grace)
        finally:
            # grpc normally unlinks the path itself (by name: a successor bound to the same
            # path loses its socket too, hence per-instance names for rolling updates); this
            # covers the cases where it did not, without touching a file someone else bound.
            sockets.remove_own(self.path, self.ident)


async def _serve(path: Path, handlers: list[grpc.GenericRpcHandler]) -> _Served:
    sockets.remove_stale(path)
    server = grpc.aio.server(handlers=handlers)
    try:
        # "unix:<abs path>": grpc refuses "unix://" addresses whose path has 106 or 107 bytes.
        server.add_insecure_port(f"unix:{path}")
    except RuntimeError as err:
        raise SocketError(f"cannot listen on {path}: {err}") from err
    await server.start()
    return _Served(server, path, sockets.identity(path))


class KubeletServer:
    """Serves registration, DRAPlugin (v1, optionally v1beta1) and, with a health board, both
    DRAResourceHealth versions for one driver instance."""

    def __init__(
        self,
        settings: KubeletSettings,
        handler: ClaimHandler,
        health: HealthBoard | None = None,
        *,
        clock: Clock = time.time,
    ) -> None:
        self._settings = settings
        self._paths = sockets.socket_paths(settings)
        self._dra = DRAService(handler)
        self._board = health
        self._clock = clock
        self._health: HealthService | None = None
        self._versions = supported_versions(
            serve_v1beta1=settings.serve_v1beta1, serve_health=health is not None
        )
        self._registration = RegistrationState()
        self._dra_served: _Served | None = None
        self._reg_served: _Served | None = None

    @property
    def paths(self) -> sockets.SocketPaths:
        return self._paths

    @property
    def supported_versions(self) -> list[str]:
        return list(self._versions)

    @property
    def registration(self) -> RegistrationState:
        return self._registration

    @property
    def serving(self) -> bool:
        return self._dra_served is not None

    async def start(self) -> None:
        """Check the paths (creating missing directories), clear stale sockets, serve DRA, then
        offer registration."""
        if self.serving:
            raise RuntimeError("KubeletServer already started")
        paths = self._paths
        sockets.check_paths(paths)
        handlers = self._dra.generic_handlers(serve_v1beta1=self._settings.serve_v1beta1)
        if self._board is not None:
            # A fresh service per start: a stopped one has ended its streams for good.
            self._health = HealthService(
                self._board, resend_seconds=self._settings.health_resend_seconds, clock=self._clock
            )
            handlers += self._health.generic_handlers()
        self._dra_served = await _serve(paths.dra, handlers)
        try:
            registration = RegistrationService(
                driver_name=self._settings.driver_name,
                endpoint=paths.dra,
                supported_versions=self._versions,
                state=self._registration,
            )
            self._reg_served = await _serve(paths.registration, registration.generic_handlers())
        except BaseException:
            await self._stop_dra(0)
            raise
        logger.info(
            "kubelet plugin serving",
            extra={
                "driver": self._settings.driver_name,
                "dra_socket": str(paths.dra),
                "registration_socket": str(paths.registration),
                "supported_versions": self._versions,
            },
        )

    async def stop(self, grace: float | None = None) -> None:
        """Deregister, then let in-flight calls finish for ``grace`` seconds (default from the
        settings) before cancelling them. Safe to call twice or without :meth:`start`."""
        grace = self._settings.shutdown_grace_seconds if grace is None else grace
        if self._reg_served is not None:
            served, self._reg_served = self._reg_served, None
            await served.stop(0)
        await self._stop_dra(grace)
        logger.info("kubelet plugin stopped", extra={"driver": self._settings.driver_name})

    async def _stop_dra(self, grace: float) -> None:
        if self._health is not None:
            self._health.close()
        if self._dra_served is not None:
            served, self._dra_served = self._dra_served, None
            await served.stop(grace)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
