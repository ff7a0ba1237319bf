"""One plugin connection as the runtime stand-in sees it: a Go-style trunk, the ttrpc client
on conn 1, the ``Runtime`` service on conn 2, and the plugin's name and event mask."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

from drafast.errors import NriError
from drafast.nri import names
from drafast.nri.mux import MAX_SEND_PAYLOAD, PLUGIN_CONN, RUNTIME_CONN, Trunk
from drafast.nri.proto import api_pb2 as api
from drafast.nri.ttrpc import MAX_DATA, Client, Code, RpcError, Server


class GoTrunk(Trunk):
    """The mux as the Go runtime runs it: it reads frames of at most 4096 bytes (bigger ones
    fail with ENOMEM) and writes a message through a 4096-byte ``bufio.Writer``: one frame when
    it fits, else 4096 bytes and then the rest (in frames of at most ``max_frame``)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, max_frame: int
    ) -> None:
        super().__init__(reader, writer, max_recv_payload=MAX_SEND_PAYLOAD)
        self._max_frame = max_frame

    def chunks(self, data: bytes) -> Iterator[bytes]:
        if len(data) <= MAX_SEND_PAYLOAD:
            yield data
            return
        yield data[:MAX_SEND_PAYLOAD]
        for start in range(MAX_SEND_PAYLOAD, len(data), self._max_frame):
            yield data[start : start + self._max_frame]


class PluginConn:
    """Serves one plugin until its trunk ends (:meth:`serve` then raises why)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_frame: int,
        request_timeout: float,
        registration_timeout: float,
        on_update_containers: Callable[[api.UpdateContainersRequest], None],
        early_configure: bool = False,
        max_send: int = MAX_DATA,
    ) -> None:
        self.trunk = GoTrunk(reader, writer, max_frame=max_frame)
        # ttrpc 1.2.4 (NRI 0.6.1) sends messages over 4 MiB unchecked; 1.2.7 refuses them.
        self.client = Client(
            self.trunk.conn(PLUGIN_CONN), timeout=request_timeout, max_send=max_send
        )
        self.name = ""
        """``NN-name`` once registered."""
        self.events = 0
        self._registration_timeout = registration_timeout
        self._on_update_containers = on_update_containers
        self._registered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._early_configure = early_configure
        self.configured = asyncio.Event()
        """Set by the runtime once Configure is answered (the early-Configure race, see below)."""
        self._server = Server(
            self.trunk.conn(RUNTIME_CONN),
            {
                (names.RUNTIME_SERVICE, names.REGISTER_PLUGIN): self._register,
                (names.RUNTIME_SERVICE, names.UPDATE_CONTAINERS): self._update_containers,
            },
        )

    def subscribed(self, event: int) -> bool:
        return bool(self.events & names.event_bit(event))

    def close(self) -> None:
        self.trunk.close()

    async def serve(self, setup: Callable[[PluginConn], Awaitable[None]]) -> None:
        parts = [
            asyncio.create_task(self.trunk.run(), name="nri-standin-trunk"),
            asyncio.create_task(self._server.run(), name="nri-standin-runtime-service"),
            asyncio.create_task(self.client.run(), name="nri-standin-plugin-client"),
        ]
        try:
            done, _ = await asyncio.wait(
                [*parts, self._registered],
                timeout=self._registration_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                raise NriError("plugin registration timed out")
            if self._registered in done:
                self._registered.result()
                await setup(self)
                done, _ = await asyncio.wait(parts, return_when=asyncio.FIRST_COMPLETED)
            part = next(p for p in parts if p in done)
            err = None if part.cancelled() else part.exception()
            raise err if err is not None else NriError("connection ended")
        finally:
            self.close()
            for part in parts:
                part.cancel()
            await asyncio.gather(*parts, return_exceptions=True)

    async def _register(self, payload: bytes) -> bytes:
        req = api.RegisterPluginRequest.FromString(payload)
        problem = ""
        if not req.plugin_name:
            problem = "empty plugin name"
        elif not names.check_plugin_index(req.plugin_idx):
            problem = f"invalid plugin index {req.plugin_idx!r}, must be 2 digits"
        if problem:
            # The runtime fails the registration; the connection is closed after the reply.
            if not self._registered.done():
                self._registered.set_exception(NriError(f"failed to register plugin: {problem}"))
            raise RpcError(Code.UNKNOWN, problem)
        self.name = f"{req.plugin_idx}-{req.plugin_name}"
        if not self._registered.done():
            self._registered.set_result(None)
        if self._early_configure:
            # NRI 0.6.1 lets Configure overtake this reply: a plugin must serve conn 1 while
            # its RegisterPlugin call is still open. Play the extreme of that race every time:
            # this reply goes out only after Configure has been answered.
            async with asyncio.timeout(self._registration_timeout):
                await self.configured.wait()
        return b""

    async def _update_containers(self, payload: bytes) -> bytes:
        self._on_update_containers(api.UpdateContainersRequest.FromString(payload))
        return api.UpdateContainersResponse().SerializeToString()
