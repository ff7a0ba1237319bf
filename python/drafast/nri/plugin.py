"""The NRI plugin: keeps a connection to the runtime and turns its events into
:class:`drafast.driver.ContainerHooks` calls.

One session is: connect -> serve conn 1 at once (the runtime may send Configure before it answers
RegisterPlugin) -> RegisterPlugin on conn 2 -> Configure (our event mask) -> Synchronize (maybe
paged) -> events until the trunk ends. Any trouble ends the session and a new one starts after a
jittered backoff; :meth:`NriPlugin.run` never raises for the runtime's sake. Trouble includes a
Synchronize our hook failed: NRI 0.6.1 keeps such a plugin connected but never adds it, so it
would wait for events forever.

A hook still running when its connection ends is cancelled: the runtime has already gone on
without our answer (the container starts unpinned), and the Synchronize of the next session
hands the hooks every container to reconcile.

Updates only ride on replies to the runtime's own requests. ``Runtime.UpdateContainers`` is never
called: with NRI < 0.12.1 it takes the runtime's locks in the opposite order to every event path
and can deadlock containerd for good (containerd#13733).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from drafast.driver import ContainerHooks
from drafast.errors import ConfigError, DrafastError, NriError
from drafast.nri import convert, names
from drafast.nri.mux import PLUGIN_CONN, RUNTIME_CONN, Trunk
from drafast.nri.proto import api_pb2 as api
from drafast.nri.ttrpc import Client, Code, Handler, RpcError, Server
from drafast.runtime.backoff import Backoff

logger = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True, kw_only=True)
class NriStatus:
    """Where the plugin stands, for readiness probes: containers created while it is not
    synchronized start unpinned (NRI never waits for a plugin)."""

    connected: bool = False
    """Registered with the runtime."""
    synchronized: bool = False
    """The runtime has our Synchronize reply: events flow."""
    reason: str = "not started"
    """Why not synchronized (empty when it is)."""


class NriPlugin:
    """An external NRI plugin on ``socket`` that serves ``hooks``.

    ``name`` and ``index`` (two digits; plugins are called in ascending index order) identify
    it to the runtime. ``request_timeout`` bounds our own calls (RegisterPlugin).
    """

    def __init__(
        self,
        socket: Path,
        *,
        name: str,
        index: str,
        hooks: ContainerHooks,
        request_timeout: float = 2.0,
        backoff: Backoff | None = None,
    ) -> None:
        if not name:
            raise ConfigError("nri plugin name must not be empty")
        if not names.check_plugin_index(index):
            raise ConfigError(f"nri plugin index {index!r}: must be exactly two digits")
        self._socket = socket
        self._name = name
        self._index = index
        self._hooks = hooks
        self._request_timeout = request_timeout
        self._backoff = backoff or Backoff(initial=0.5, cap=10.0)
        # Hooks never overlap (the ContainerHooks contract); asyncio.Lock is FIFO, so they also
        # run in the order the requests arrived.
        self._lock = asyncio.Lock()
        self._status = NriStatus()
        self._synced = asyncio.Event()
        self._syncs = 0
        self._sync_pods: list[api.PodSandbox] = []
        self._sync_containers: list[api.Container] = []
        self._failed: asyncio.Future[None] | None = None
        self._handlers: dict[tuple[str, str], Handler] = {
            (names.PLUGIN_SERVICE, names.CONFIGURE): self._configure,
            (names.PLUGIN_SERVICE, names.SYNCHRONIZE): self._synchronize,
            (names.PLUGIN_SERVICE, names.SHUTDOWN): self._shutdown,
            (names.PLUGIN_SERVICE, names.CREATE_CONTAINER): self._create,
            (names.PLUGIN_SERVICE, names.UPDATE_CONTAINER): self._update,
            (names.PLUGIN_SERVICE, names.STOP_CONTAINER): self._stop,
            (names.PLUGIN_SERVICE, names.STATE_CHANGE): self._state_change,
        }

    @property
    def status(self) -> NriStatus:
        return self._status

    @property
    def synchronizations(self) -> int:
        """Completed synchronizations since start (one per successful session)."""
        return self._syncs

    async def wait_synchronized(self) -> None:
        """Return once the current session is synchronized (at once if it already is)."""
        await self._synced.wait()

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect, serve, reconnect; until cancelled."""
        while True:
            try:
                await self._session()
            except (NriError, OSError) as err:
                reason = str(err) or type(err).__name__
            except Exception as err:
                # Our own bug, not the runtime's: say so loudly, but keep the node serving.
                logger.exception("nri session failed unexpectedly")
                reason = f"internal error: {type(err).__name__}"
            self._set(connected=False, synchronized=False, reason=reason)
            delay = self._backoff.next()
            logger.warning(
                "nri connection lost",
                extra={"socket": str(self._socket), "error": reason, "retry_in_s": round(delay, 3)},
            )
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        """One connection, from dial to its end; always raises."""
        if self._status.reason == NriStatus().reason:
            self._set(connected=False, synchronized=False, reason="connecting")
        # Otherwise the last failure stays the reason until we register: more use to a
        # readiness probe than "connecting" would be.
        try:
            reader, writer = await asyncio.open_unix_connection(str(self._socket))
        except OSError as err:
            raise NriError(f"nri socket {self._socket}: cannot connect: {err}") from err
        trunk = Trunk(reader, writer)
        loop = asyncio.get_running_loop()
        self._failed = loop.create_future()
        self._sync_pods, self._sync_containers = [], []
        client = Client(trunk.conn(RUNTIME_CONN), timeout=self._request_timeout)
        # Only a Synchronize gets that big (NRI 0.6.1 sends it unchecked): lost, it would leave
        # us connected but never added, so end the session and say why.
        server = Server(
            trunk.conn(PLUGIN_CONN),
            self._handlers,
            on_oversized=lambda err: self._fail_session(NriError(f"nri: {err}")),
        )
        watched: list[asyncio.Future[None]] = [
            asyncio.create_task(trunk.run(), name="nri-trunk"),
            asyncio.create_task(server.run(), name="nri-plugin-service"),
            asyncio.create_task(client.run(), name="nri-runtime-client"),
            self._failed,
        ]
        register = asyncio.create_task(self._register(client), name="nri-register")
        try:
            done, _ = await asyncio.wait([*watched, register], return_when=asyncio.FIRST_COMPLETED)
            if register in done:
                register.result()  # raises if registration failed
                done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            raise _ended(next(f for f in watched if f in done))
        finally:
            trunk.close()
            for future in (*watched, register):
                future.cancel()
            await asyncio.gather(*watched, register, return_exceptions=True)

    async def _register(self, client: Client) -> None:
        req = api.RegisterPluginRequest(plugin_name=self._name, plugin_idx=self._index)
        await client.call(names.RUNTIME_SERVICE, names.REGISTER_PLUGIN, req.SerializeToString())
        if not self._status.synchronized:
            self._set(connected=True, synchronized=False, reason="waiting for synchronize")
        logger.info(
            "nri plugin registered",
            extra={"socket": str(self._socket), "plugin": f"{self._index}-{self._name}"},
        )

    def _set(self, *, connected: bool, synchronized: bool, reason: str) -> None:
        self._status = NriStatus(connected=connected, synchronized=synchronized, reason=reason)
        if synchronized:
            self._synced.set()
        else:
            self._synced.clear()

    def _fail_session(self, err: NriError) -> None:
        if self._failed is not None and not self._failed.done():
            self._failed.set_exception(err)

    # ------------------------------------------------------------------ handlers (conn 1)

    async def _configure(self, payload: bytes) -> bytes:
        req = _decode(api.ConfigureRequest, payload, names.CONFIGURE)
        logger.info(
            "nri runtime configured us",
            extra={
                "runtime": req.runtime_name,
                "runtime_version": req.runtime_version,
                "request_timeout_ms": req.request_timeout,
            },
        )
        return api.ConfigureResponse(events=names.PLUGIN_EVENTS).SerializeToString()

    async def _synchronize(self, payload: bytes) -> bytes:
        req = _decode(api.SynchronizeRequest, payload, names.SYNCHRONIZE)
        self._sync_pods.extend(req.pods)
        self._sync_containers.extend(req.containers)
        if req.more:
            # A chunk of a paged sync (NRI 0.8.0): the runtime wants exactly {more: true} back.
            return api.SynchronizeResponse(more=True).SerializeToString()
        refs = convert.container_refs(self._sync_containers, self._sync_pods)
        self._sync_pods, self._sync_containers = [], []
        try:
            updates = await self._hook("synchronize", "", lambda: self._hooks.synchronize(refs))
            reply = api.SynchronizeResponse(update=convert.update_protos(updates))
        except RpcError as err:
            # The reply goes out first (this task writes it before the session task wakes up).
            self._fail_session(NriError(f"nri synchronize failed: {err.message}"))
            raise
        self._syncs += 1
        self._backoff.reset()
        self._set(connected=True, synchronized=True, reason="")
        logger.info(
            "nri synchronized", extra={"containers": len(refs), "updates": len(reply.update)}
        )
        return reply.SerializeToString()

    async def _shutdown(self, payload: bytes) -> bytes:
        # No runtime calls it (fact sheet §4); the trunk's end is what tells us to reconnect.
        logger.info("nri runtime asked us to shut down")
        return b""

    async def _create(self, payload: bytes) -> bytes:
        req = _decode(api.CreateContainerRequest, payload, names.CREATE_CONTAINER)
        ref = convert.container_ref(req.container, req.pod)

        async def call() -> api.CreateContainerResponse:
            return convert.adjustment_proto(ref.id, await self._hooks.create(ref))

        reply = await self._hook("create", ref.id, call)
        return reply.SerializeToString()

    async def _update(self, payload: bytes) -> bytes:
        req = _decode(api.UpdateContainerRequest, payload, names.UPDATE_CONTAINER)
        ref = convert.container_ref(req.container, req.pod)
        updates = await self._hook("update", ref.id, lambda: self._hooks.update(ref))
        return api.UpdateContainerResponse(
            update=convert.update_protos(updates)
        ).SerializeToString()

    async def _stop(self, payload: bytes) -> bytes:
        req = _decode(api.StopContainerRequest, payload, names.STOP_CONTAINER)
        ref = convert.container_ref(req.container, req.pod)
        updates = await self._hook("stopped", ref.id, lambda: self._hooks.stopped(ref))
        return api.StopContainerResponse(update=convert.update_protos(updates)).SerializeToString()

    async def _state_change(self, payload: bytes) -> bytes:
        req = _decode(api.StateChangeEvent, payload, names.STATE_CHANGE)
        if req.event == api.REMOVE_CONTAINER and req.HasField("container"):
            ref = convert.container_ref(req.container, req.pod)
            await self._hook("removed", ref.id, lambda: self._hooks.removed(ref))
        return b""  # Empty

    async def _hook(self, hook: str, container_id: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one hook alone; its error becomes the status the runtime reports."""
        async with self._lock:
            try:
                return await call()
            except DrafastError as err:
                logger.warning(
                    "nri hook failed",
                    extra={"hook": hook, "container_id": container_id, "error": str(err)},
                )
                raise RpcError(Code.UNKNOWN, str(err)) from err
            except Exception as err:
                logger.exception(
                    "nri hook failed unexpectedly",
                    extra={"hook": hook, "container_id": container_id},
                )
                raise RpcError(Code.UNKNOWN, f"internal error: {type(err).__name__}") from err


def _decode(cls: type[M], payload: bytes, method: str) -> M:
    try:
        return cls.FromString(payload)
    except DecodeError as err:
        raise RpcError(Code.INVALID_ARGUMENT, f"{method}: undecodable request: {err}") from err


def _ended(future: asyncio.Future[None]) -> NriError:
    """Why a session part ended (they only end by failing)."""
    if future.cancelled():
        return NriError("nri session part cancelled")
    err = future.exception()
    if isinstance(err, NriError):
        return err
    if err is not None:
        return NriError(f"nri session failed: {type(err).__name__}: {err}")
    return NriError("nri session part ended")
