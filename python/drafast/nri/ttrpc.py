"""ttrpc over one logical mux conn: the unary subset NRI uses (fact sheet §3).

A message is a 10-byte header (data length, stream ID: uint32 BE; type; flags) and the data: a
``ttrpc.Request`` (type 1) or a ``ttrpc.Response`` (type 2). Each side's client opens streams
with odd, strictly increasing IDs; one request, one response, no data frames.

Contracts kept here, as the Go implementation keeps them:

* success is a ``Response`` with the payload and **no** status; failure is a status and **no**
  payload (:class:`RpcError` carries code and message both ways);
* an unknown service or method is code 12 with ``"service X"`` / ``"method X"`` (NRI >= 0.12
  runtimes fall back to ``StateChange`` on exactly that), a handler's error code 2 with its
  message; the Go client treats both as a failed call, not a broken connection;
* data is capped at 4 MiB: we refuse to send more (nothing is written) and, receiving more,
  discard it and fail just that stream;
* anything else the peer gets wrong (a Request on the client side, an undecodable envelope) is a
  :class:`ProtocolError` and ends the connection, like Go's ``ErrProtocol``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError

from drafast.errors import NriError
from drafast.nri.mux import MuxConn
from drafast.nri.proto import ttrpc_pb2

logger = logging.getLogger(__name__)

HEADER = struct.Struct(">IIBB")
MAX_DATA = 4 << 20


class MessageType(enum.IntEnum):
    REQUEST = 1
    RESPONSE = 2
    DATA = 3


class Code(enum.IntEnum):
    """The gRPC status codes ttrpc uses."""

    OK = 0
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    RESOURCE_EXHAUSTED = 8
    UNIMPLEMENTED = 12
    UNAVAILABLE = 14


class ProtocolError(NriError):
    """The peer broke ttrpc; the connection cannot be trusted any more."""


class RpcError(NriError):
    """A call answered with a status: raised by a handler to answer one, or by
    :meth:`Client.call` when the peer answered one."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Message:
    stream_id: int
    type: int
    flags: int
    data: bytes


class OversizedMessage(ProtocolError):
    """A message longer than :data:`MAX_DATA` arrived (and was discarded)."""

    def __init__(self, stream_id: int, length: int) -> None:
        super().__init__(
            f"ttrpc stream {stream_id}: message of {length} bytes exceeds the limit of {MAX_DATA}"
        )
        self.stream_id = stream_id
        self.length = length


def encode(
    stream_id: int, mtype: int, data: bytes, flags: int = 0, *, limit: int = MAX_DATA
) -> bytes:
    """One message: header and data; refused above ``limit`` (ttrpc >= 1.2.7 checks on send,
    1.2.4 does not: the runtime stand-in plays that with a bigger limit)."""
    if len(data) > limit:
        raise RpcError(
            Code.RESOURCE_EXHAUSTED,
            f"ttrpc stream {stream_id}: message of {len(data)} bytes exceeds the limit of {limit}",
        )
    return HEADER.pack(len(data), stream_id, mtype, flags) + data


def encode_request(
    stream_id: int,
    service: str,
    method: str,
    payload: bytes,
    timeout_nano: int = 0,
    *,
    limit: int = MAX_DATA,
) -> bytes:
    req = ttrpc_pb2.Request(
        service=service, method=method, payload=payload, timeout_nano=timeout_nano
    )
    return encode(stream_id, MessageType.REQUEST, req.SerializeToString(), limit=limit)


def encode_response(stream_id: int, payload: bytes = b"", error: RpcError | None = None) -> bytes:
    if error is None:
        resp = ttrpc_pb2.Response(payload=payload)
    else:
        resp = ttrpc_pb2.Response(status=ttrpc_pb2.Status(code=error.code, message=error.message))
    return encode(stream_id, MessageType.RESPONSE, resp.SerializeToString())


async def read_message(reader: asyncio.StreamReader) -> Message:
    """The next message; raises :class:`OversizedMessage` after discarding a too-long one, and
    whatever the conn's reader raises when the trunk ends (an :class:`NriError`)."""
    try:
        header = await reader.readexactly(HEADER.size)
        length, stream_id, mtype, flags = HEADER.unpack(header)
        if length > MAX_DATA:
            # Skip it in bounded pieces: the stream stays aligned on the next message.
            left = length
            while left:
                left -= len(await reader.readexactly(min(left, 1 << 16)))
            raise OversizedMessage(stream_id, length)
        data = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError as err:
        raise NriError("ttrpc: connection closed") from err
    return Message(stream_id, mtype, flags, data)


_M = TypeVar("_M", ttrpc_pb2.Request, ttrpc_pb2.Response)


def _parse(cls: type[_M], msg: Message) -> _M:
    try:
        return cls.FromString(msg.data)
    except DecodeError as err:
        raise ProtocolError(
            f"ttrpc stream {msg.stream_id}: undecodable {cls.__name__}: {err}"
        ) from err


# --------------------------------------------------------------------------- client


class Client:
    """Calls the peer's services over one conn. :meth:`run` reads the responses (start it
    before calling); calls may overlap, each waits for its own stream's response."""

    def __init__(self, conn: MuxConn, *, timeout: float, max_send: int = MAX_DATA) -> None:
        self._conn = conn
        self._timeout = timeout
        self._max_send = max_send
        self._ids = itertools.count(1, 2)
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._closed: BaseException | None = None

    async def call(
        self, service: str, method: str, payload: bytes, *, deadline: float | None = None
    ) -> bytes:
        """The response payload; raises :class:`RpcError` for a status (or a refused send),
        :class:`NriError` when the connection ends first or the call times out. ``deadline``
        (seconds; default: the client's timeout) is also sent to the peer as ``timeout_nano``."""
        if self._closed is not None:
            raise NriError(f"ttrpc call {service}/{method}: connection closed") from self._closed
        seconds = self._timeout if deadline is None else deadline
        stream_id = next(self._ids)  # used up even if the send is refused, like Go's client
        data = encode_request(
            stream_id, service, method, payload, int(seconds * 1e9), limit=self._max_send
        )
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[stream_id] = future
        try:
            self._conn.write(data)
            await self._conn.drain()
            async with asyncio.timeout(seconds):
                return await future
        except TimeoutError as err:
            raise NriError(
                f"ttrpc stream {stream_id}: {service}/{method} timed out after {seconds}s"
            ) from err
        finally:
            self._pending.pop(stream_id, None)

    async def run(self) -> None:
        """Read responses until the conn ends; then every pending call fails. Raises
        :class:`ProtocolError` for anything but a response."""
        try:
            while True:
                try:
                    msg = await read_message(self._conn.reader)
                except OversizedMessage as err:
                    self._resolve(err.stream_id, error=RpcError(Code.RESOURCE_EXHAUSTED, str(err)))
                    continue
                if msg.type != MessageType.RESPONSE:
                    raise ProtocolError(
                        f"ttrpc stream {msg.stream_id}: message type {msg.type} where a response"
                        " was expected"
                    )
                resp = _parse(ttrpc_pb2.Response, msg)
                if resp.HasField("status") and resp.status.code != Code.OK:
                    error = RpcError(resp.status.code, resp.status.message)
                    self._resolve(msg.stream_id, error=error)
                else:
                    self._resolve(msg.stream_id, payload=resp.payload)
        except BaseException as err:
            self._closed = err
            cause = err if isinstance(err, NriError) else NriError("ttrpc: client stopped")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(cause)
            raise

    def _resolve(
        self, stream_id: int, *, payload: bytes = b"", error: BaseException | None = None
    ) -> None:
        future = self._pending.get(stream_id)
        if future is None or future.done():
            # Go logs and ignores these too: the caller gave up (timeout) before it came.
            logger.info(
                "ttrpc response for an inactive stream ignored", extra={"stream_id": stream_id}
            )
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(payload)


# --------------------------------------------------------------------------- server

Handler = Callable[[bytes], Awaitable[bytes]]
"""Request payload in, response payload out; raise :class:`RpcError` to answer a status."""


class Server:
    """Serves ``handlers[(service, method)]`` over one conn. Requests are handled concurrently
    (a task each, as Go's server does); callers that need order serialize themselves."""

    def __init__(
        self,
        conn: MuxConn,
        handlers: Mapping[tuple[str, str], Handler],
        *,
        on_oversized: Callable[[OversizedMessage], None] | None = None,
    ) -> None:
        self._conn = conn
        self._on_oversized = on_oversized
        self._handlers = dict(handlers)
        self._services = {service for service, _ in handlers}
        self._last_stream = 0

    async def run(self) -> None:
        """Serve until the conn ends (raises its error) or the peer breaks the protocol
        (:class:`ProtocolError`); in-flight handlers are cancelled then."""
        # Not a TaskGroup: it would wrap the conn's own error in an ExceptionGroup.
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    msg = await read_message(self._conn.reader)
                except OversizedMessage as err:
                    # As ttrpc 1.2.4 does; the owner learns of it too (the call is lost to it).
                    self._reply(err.stream_id, error=RpcError(Code.RESOURCE_EXHAUSTED, str(err)))
                    if self._on_oversized is not None:
                        self._on_oversized(err)
                    continue
                if msg.type != MessageType.REQUEST:
                    raise ProtocolError(
                        f"ttrpc stream {msg.stream_id}: message type {msg.type} where a request"
                        " was expected"
                    )
                if msg.stream_id % 2 == 0:
                    self._reply(
                        msg.stream_id,
                        error=RpcError(
                            Code.INVALID_ARGUMENT,
                            "StreamID must be odd for client initiated streams",
                        ),
                    )
                    continue
                if msg.stream_id <= self._last_stream:
                    self._reply(
                        msg.stream_id,
                        error=RpcError(
                            Code.INVALID_ARGUMENT, "StreamID cannot be re-used and must increment"
                        ),
                    )
                    continue
                self._last_stream = msg.stream_id
                req = _parse(ttrpc_pb2.Request, msg)
                task = asyncio.create_task(
                    self._serve(msg.stream_id, req), name=f"ttrpc-stream-{msg.stream_id}"
                )
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, stream_id: int, req: ttrpc_pb2.Request) -> None:
        handler = self._handlers.get((req.service, req.method))
        if handler is None:
            what = "method" if req.service in self._services else "service"
            name = req.method if what == "method" else req.service
            self._reply(stream_id, error=RpcError(Code.UNIMPLEMENTED, f"{what} {name}"))
            return
        try:
            payload = await handler(req.payload)
        except RpcError as err:
            self._reply(stream_id, error=err)
        except Exception as err:
            # Handlers map their own errors; this is the last line of defence.
            logger.exception(
                "ttrpc handler failed unexpectedly",
                extra={"stream_id": stream_id, "method": req.method},
            )
            self._reply(
                stream_id, error=RpcError(Code.UNKNOWN, f"internal error: {type(err).__name__}")
            )
        else:
            self._reply(stream_id, payload=payload)

    def _reply(
        self, stream_id: int, *, payload: bytes = b"", error: RpcError | None = None
    ) -> None:
        try:
            data = encode_response(stream_id, payload, error)
        except RpcError as err:
            # Too big to send: answer that instead (Go's server does the same).
            data = encode_response(stream_id, error=err)
        with contextlib.suppress(NriError):  # the trunk is gone: its reader ends run() too
            self._conn.write(data)
