"""An NRI runtime stand-in that plays containerd (NRI 0.8.0 or 0.6.1) over a real Unix socket.

It behaves as the fact sheet (§1-§6) says the runtime does, including the parts that hurt:
a mux frame from the plugin bigger than 4096 bytes is "cannot allocate memory" and the plugin
is dropped; a reply slower than the request timeout closes the plugin and the event proceeds
without it; a status error fails a create or update; an update naming the container being
created fails that create; ``cpus=""`` in an update changes nothing; unknown IDs are skipped.

Simplifications, none of which a plugin can observe: one plugin at a time (a new one that
synchronizes replaces the old), containers are created and started in one step, and the
registration/Configure/Synchronize setup of a connection runs under the same lock as events
(what containerd 2.x's ``BlockPluginSync`` gives).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, TypeVar

from google.protobuf.message import DecodeError, Message

from drafast.errors import NriError
from drafast.nri import names
from drafast.nri.mux import HEADER, MAX_RECV_PAYLOAD, MuxError
from drafast.nri.proto import api_pb2 as api
from drafast.nri.ttrpc import MAX_DATA, Code, RpcError
from drafast.testing.nri.conn import PluginConn
from drafast.testing.nri.store import RuntimeContainer, RuntimePod, Store, adjusted, with_cpuset

logger = logging.getLogger(__name__)

Flavor = Literal["0.8.0", "0.6.1"]
M = TypeVar("M", bound=Message)


class PluginRefusedError(Exception):
    """The plugin answered a status error, and the runtime failed the operation with it (or the
    plugin's result itself was refused, e.g. an update of the container being created)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NriRuntime:
    """Listens on ``socket``, takes a plugin through register -> configure -> synchronize, and
    then lets a test drive container events with :meth:`create_container` and friends.

    ``flavor`` picks the NRI version played: ``"0.8.0"`` (containerd 2.1) sends Configure's
    timeout fields and pages a Synchronize over ``sync_limit`` bytes; ``"0.6.1"`` (containerd
    1.7) sends neither, sends Configure before it answers RegisterPlugin, and after a failed
    Synchronize keeps the connection open but never adds the plugin. ``request_timeout`` is
    containerd's ``plugin_request_timeout``.
    """

    def __init__(
        self,
        socket: Path,
        *,
        flavor: Flavor = "0.8.0",
        request_timeout: float = 2.0,
        registration_timeout: float = 5.0,
        runtime_version: str | None = None,
        sync_limit: int = MAX_DATA,
    ) -> None:
        self.socket = socket
        self.flavor = flavor
        self.request_timeout = request_timeout
        self.registration_timeout = registration_timeout
        self.runtime_version = runtime_version or ("2.1.9" if flavor == "0.8.0" else "1.7.24")
        self.sync_limit = sync_limit
        self.store = Store()
        self.log: list[str] = []
        """What containerd would have logged about plugins, one line each."""
        self.update_containers_calls = 0
        """``Runtime.UpdateContainers`` calls received (a well-behaved plugin makes none)."""
        self.connections = 0
        self.syncs = 0
        """Completed synchronizations (one per plugin added)."""
        self.plugin: PluginConn | None = None
        """The plugin receiving events (registered, configured, synchronized)."""
        self._conns: set[PluginConn] = set()
        self._server: asyncio.Server | None = None
        self._lock = asyncio.Lock()  # one setup or one event at a time, like the adaptation
        self._changed = asyncio.Condition()
        self._handlers: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen, as containerd does at start: remove a stale socket, create the directory."""
        self.socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.socket))

    async def close(self) -> None:
        """Stop listening and drop every plugin connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):
            conn.close()
        # Not cancelled: a closed trunk ends each handler by itself, and asyncio's server
        # callback complains about handler tasks that end cancelled.
        await asyncio.gather(*self._handlers, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    async def restart(self) -> None:
        """A containerd restart: the plugin's connection drops and the socket is recreated."""
        self._note("restarting: dropping plugins, recreating the socket")
        await self.close()
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def wait_synchronized(self, after: int = 0, within: float = 30.0) -> None:
        """Until a plugin is added with synchronization number > ``after`` (pass the current
        :attr:`syncs` to wait for the next one)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: self.syncs > after and self.plugin is not None)

    async def wait_disconnected(self, within: float = 30.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: self.plugin is None)

    # ------------------------------------------------------------------ state

    @property
    def containers(self) -> Mapping[str, RuntimeContainer]:
        return self.store.containers

    def cpusets(self) -> dict[str, str]:
        """Every container's current cpuset (``""``: unrestricted)."""
        return {cid: c.cpus for cid, c in self.store.containers.items()}

    def add_pod(self, name: str, *, namespace: str = "default") -> RuntimePod:
        return self.store.pod(name, namespace=namespace)

    def add_container(
        self,
        pod: RuntimePod | str,
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        cpus: str = "",
        container_id: str | None = None,
    ) -> RuntimeContainer:
        """A container that already exists (no event): the next Synchronize carries it."""
        p = self.store.pod(pod)
        c = RuntimeContainer(
            id=container_id or self.store.new_id(),
            pod_id=p.id,
            name=name,
            env=dict(env or {}),
            cpus=cpus,
        )
        self.store.containers[c.id] = c
        return c

    # ------------------------------------------------------------------ events

    async def create_container(
        self,
        pod: RuntimePod | str,
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        cpus: str = "",
        container_id: str | None = None,
    ) -> RuntimeContainer:
        """CRI CreateContainer (+ start): returns the container as created, the plugin's
        adjustment applied. Raises :class:`PluginRefusedError` when the plugin fails it."""
        async with self._lock:
            p = self.store.pod(pod)
            c = RuntimeContainer(
                id=container_id or self.store.new_id(),
                pod_id=p.id,
                name=name,
                env=dict(env or {}),
                cpus=cpus,
            )
            if c.id in self.store.containers:
                raise ValueError(f"container {c.id} exists")
            # State UNKNOWN: the CRI store does not hold the container yet.
            req = api.CreateContainerRequest(
                pod=p.proto(), container=c.proto(state=api.CONTAINER_UNKNOWN)
            )
            reply = await self._event(names.CREATE_CONTAINER, api.CREATE_CONTAINER, req, c.id)
            if reply is not None:
                resp = _decode(api.CreateContainerResponse, reply)
                plugin = self._plugin_name()
                if any(u.container_id == c.id for u in resp.update):
                    raise PluginRefusedError(
                        f'plugin "{plugin}" asked update of "{c.id}" during creation'
                    )
                self._apply(resp.update)  # other containers first, failures ignored
                c = adjusted(c, resp.adjust)
            self.store.containers[c.id] = c
            return c

    async def update_container(
        self, container_id: str, *, cpus: str = "", mems: str = ""
    ) -> RuntimeContainer:
        """CRI UpdateContainerResources with a new cpuset ("" = unchanged)."""
        async with self._lock:
            c = self.store.containers[container_id]
            req = api.UpdateContainerRequest(pod=self._pod_proto(c), container=c.proto())
            req.linux_resources.cpu.cpus = cpus
            req.linux_resources.cpu.mems = mems
            reply = await self._event(names.UPDATE_CONTAINER, api.UPDATE_CONTAINER, req, c.id)
            wanted = req.linux_resources
            if reply is not None:
                resp = _decode(api.UpdateContainerResponse, reply)
                self._apply(u for u in resp.update if u.container_id != c.id)
                for u in resp.update:  # the plugin's update of the target replaces the request
                    if u.container_id == c.id:
                        wanted = u.linux.resources
            c = self.store.containers[c.id] = with_cpuset(self.store.containers[c.id], wanted)
            return c

    async def stop_container(self, container_id: str) -> RuntimeContainer:
        """CRI StopContainer or the container's exit: sent once per container."""
        async with self._lock:
            return await self._stop(container_id)

    async def remove_container(self, container_id: str) -> None:
        """CRI RemoveContainer: a StopContainer first if it still needs one, then StateChange."""
        async with self._lock:
            c = await self._stop(container_id)
            req = api.StateChangeEvent(
                event=api.REMOVE_CONTAINER, pod=self._pod_proto(c), container=c.proto()
            )
            with contextlib.suppress(PluginRefusedError):  # only logged by the runtime
                await self._event(names.STATE_CHANGE, api.REMOVE_CONTAINER, req, c.id)
            del self.store.containers[c.id]

    async def _stop(self, container_id: str) -> RuntimeContainer:
        c = self.store.containers[container_id]
        if c.state == api.CONTAINER_STOPPED:
            return c
        c = self.store.containers[c.id] = replace(c, state=api.CONTAINER_STOPPED)
        req = api.StopContainerRequest(pod=self._pod_proto(c), container=c.proto())
        with contextlib.suppress(PluginRefusedError):  # only logged by the runtime
            reply = await self._event(names.STOP_CONTAINER, api.STOP_CONTAINER, req, c.id)
            if reply is not None:
                self._apply(_decode(api.StopContainerResponse, reply).update)  # after the stop
        return self.store.containers[c.id]

    # ------------------------------------------------------------------ hostile peer

    def drop_connection(self) -> None:
        """Close the plugin's connection now (e.g. while it is handling a call)."""
        for conn in list(self._conns):
            conn.close()

    def send_garbage(self, data: bytes | None = None) -> None:
        """Bytes the plugin cannot make sense of; by default a well-framed conn-1 message of a
        ttrpc type that does not exist."""
        junk = data if data is not None else _frame(1, bytes.fromhex("00000000000000ff0700"))
        for conn in list(self._conns):
            conn.trunk.send_raw(junk)

    def send_oversized_frame(self) -> None:
        """A frame header announcing more than any Go runtime ever sends (16 MiB + 1)."""
        for conn in list(self._conns):
            conn.trunk.send_raw(HEADER.pack(1, MAX_RECV_PAYLOAD + 1))

    # ------------------------------------------------------------------ plumbing

    def _note(self, line: str) -> None:
        self.log.append(line)
        logger.info("nri runtime stand-in", extra={"line": line})

    def _plugin_name(self) -> str:
        return self.plugin.name if self.plugin is not None else ""

    def _pod_proto(self, c: RuntimeContainer) -> api.PodSandbox:
        pod = self.store.pods.get(c.pod_id)
        return pod.proto() if pod is not None else api.PodSandbox(id=c.pod_id)

    def _apply(self, updates: Iterable[api.ContainerUpdate]) -> None:
        for cid in self.store.apply(updates):
            self._note(f"update of unknown container {cid} skipped")

    async def _event(
        self, method: str, event: int, req: Message, container_id: str
    ) -> bytes | None:
        """Call the plugin if it subscribed to ``event``; None when there is no answer to use
        (no plugin, not subscribed, or the plugin was just closed for a fatal error)."""
        conn = self.plugin
        if conn is None or not conn.subscribed(event):
            return None
        payload = req.SerializeToString()
        try:
            return await conn.client.call(
                names.PLUGIN_SERVICE, method, payload, deadline=self.request_timeout
            )
        except RpcError as err:
            self._note(f"plugin {conn.name} failed {method} of {container_id}: {err.message}")
            raise PluginRefusedError(
                f"plugin {conn.name} failed {method} of {container_id}: rpc error:"
                f" code = {Code(err.code).name.title()} desc = {err.message}"
            ) from err
        except NriError as err:
            # Fatal (closed, protocol, deadline): the plugin goes, the event goes on without it.
            self._note(f"closing plugin {conn.name}: {_why(err)}")
            conn.close()
            await self._dropped(conn)
            return None

    def _update_containers(self, req: api.UpdateContainersRequest) -> None:
        # Applied directly with no conflict checks, as containerd does; counted because with
        # NRI < 0.12.1 this call can deadlock containerd (no drafast plugin should make it).
        self.update_containers_calls += 1
        self._note("UpdateContainers called by a plugin")
        self._apply(req.update)

    async def _dropped(self, conn: PluginConn) -> None:
        self._conns.discard(conn)
        if self.plugin is conn:
            self.plugin = None
            async with self._changed:
                self._changed.notify_all()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        conn = PluginConn(
            reader,
            writer,
            max_frame=_max_frame(self.flavor),
            request_timeout=self.request_timeout,
            registration_timeout=self.registration_timeout,
            on_update_containers=self._update_containers,
            early_configure=self.flavor == "0.6.1",
            max_send=MAX_DATA if self.flavor == "0.8.0" else MAX_RECV_PAYLOAD - 10,
        )
        self._conns.add(conn)
        try:
            await conn.serve(self._setup)
        except MuxError as err:
            if "exceeds the limit" in str(err):
                # What Go's mux reader says when a frame does not fit its 4096-byte buffer.
                self._note('error receiving message error="cannot allocate memory"')
            else:
                self._note(f"plugin {conn.name or '?'} connection broken: {err}")
        except NriError as err:
            self._note(f"closing plugin {conn.name}: {_why(err)}" if conn.name else _why(err))
        except Exception as err:  # a stand-in bug: say so in its log, keep serving
            logger.exception("nri runtime stand-in: connection handler failed")
            self._note(f"closing plugin {conn.name}: internal error: {err!r}")
        finally:
            conn.close()
            await self._dropped(conn)
            self._handlers.discard(task)

    async def _setup(self, conn: PluginConn) -> None:
        """Register (already awaited by ``conn``), configure, synchronize, add."""
        async with self._lock:
            configure = api.ConfigureRequest(
                runtime_name="containerd", runtime_version=self.runtime_version
            )
            if self.flavor == "0.8.0":
                configure.registration_timeout = int(self.registration_timeout * 1000)
                configure.request_timeout = int(self.request_timeout * 1000)
            try:
                raw = await conn.client.call(
                    names.PLUGIN_SERVICE,
                    names.CONFIGURE,
                    configure.SerializeToString(),
                    deadline=self.request_timeout,
                )
                events = _decode(api.ConfigureResponse, raw).events
            except NriError as err:
                raise NriError(f"failed to configure plugin {conn.name}: {_why(err)}") from err
            finally:
                conn.configured.set()
            if events & ~names.VALID_EVENTS:
                raise NriError(f"invalid plugin events 0x{events:x} from {conn.name}")
            conn.events = events or names.VALID_EVENTS
            try:
                await self._synchronize(conn)
            except NriError as err:
                if self.flavor == "0.6.1":
                    # Left connected but never added: the plugin gets no events, ever.
                    self._note(f"failed to synchronize plugin {conn.name}: {_why(err)}")
                    return
                raise NriError(f"failed to synchronize plugin {conn.name}: {_why(err)}") from err
            old, self.plugin = self.plugin, conn
            if old is not None:
                old.close()
            self.syncs += 1
            self._note(f"plugin {conn.name} synchronized")
        async with self._changed:
            self._changed.notify_all()

    async def _synchronize(self, conn: PluginConn) -> None:
        # 0.8.0 first tries it whole and pages only when ttrpc refuses that; 0.6.1 never pages.
        chunks = self.store.sync_requests(self.sync_limit if self.flavor == "0.8.0" else None)
        # 0.8.0: one deadline for the whole exchange, every chunk included.
        try:
            async with asyncio.timeout(self.request_timeout):
                await self._sync_chunks(conn, chunks)
        except TimeoutError as err:
            raise NriError(f"synchronize of {conn.name} timed out") from err

    async def _sync_chunks(self, conn: PluginConn, chunks: list[api.SynchronizeRequest]) -> None:
        for chunk in chunks:
            raw = await conn.client.call(
                names.PLUGIN_SERVICE,
                names.SYNCHRONIZE,
                chunk.SerializeToString(),
                deadline=self.request_timeout,
            )
            resp = _decode(api.SynchronizeResponse, raw)
            if chunk.more and not resp.more:
                raise NriError("plugin does not handle split sync requests")
            if chunk.more:
                continue
            self._apply(resp.update)  # failures are only logged by containerd


def _max_frame(flavor: Flavor) -> int:
    # The largest frame a Go mux writes: 0.8.0 splits at 4 MiB + 10, 0.6.1 refuses above 16 MiB.
    return MAX_DATA + 10 if flavor == "0.8.0" else MAX_RECV_PAYLOAD


def _frame(conn_id: int, payload: bytes) -> bytes:
    return HEADER.pack(conn_id, len(payload)) + payload


def _why(err: BaseException) -> str:
    """The error as containerd words it (a call's deadline is Go's context error)."""
    if isinstance(err, TimeoutError) or isinstance(err.__cause__, TimeoutError):
        return "context deadline exceeded"
    return str(err)


def _decode(cls: type[M], raw: bytes) -> M:
    try:
        return cls.FromString(raw)
    except DecodeError as err:
        raise NriError(f"undecodable {cls.__name__} from plugin: {err}") from err


__all__ = ["Flavor", "NriRuntime", "PluginRefusedError"]
