"""The NRI multiplexed trunk: two logical byte streams over one Unix socket (fact sheet §2).

Every frame is an 8-byte header (ConnID, payload length; uint32 big-endian) and the payload.
Conn 1 carries the runtime's calls to the plugin, conn 2 the plugin's calls to the runtime.
A logical conn is a byte stream, so a ttrpc message may span frames and is reassembled here;
frames for any other ConnID are dropped, as the Go mux does.

Two limits, one per direction, because the Go side is asymmetric:

* send: never more than 4096 payload bytes per frame. The Go receiver reads a frame into its
  ttrpc ``bufio.Reader``'s 4096-byte buffer and fails with ENOMEM ("cannot allocate memory")
  on anything bigger, after which containerd drops the plugin. Bigger messages are split.
* receive: up to 16 MiB per frame. Go senders write a big message as 4096 bytes and then the
  rest in one frame (up to 4 MiB + 10 on NRI 0.8.0, up to 16 MiB on 0.6.1). A larger length is
  garbage or hostile: the trunk is refused with one error rather than buffering it.

Each frame (indeed each whole message) goes out in one ``transport.write``, so frames of the two
conns never interleave inside each other; the transport keeps them in order.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Iterable, Iterator

from drafast.errors import NriError

logger = logging.getLogger(__name__)

PLUGIN_CONN = 1
"""The runtime is the ttrpc client, the plugin serves ``nri.pkg.api.v1alpha1.Plugin``."""
RUNTIME_CONN = 2
"""The plugin is the ttrpc client, the runtime serves ``nri.pkg.api.v1alpha1.Runtime``."""

HEADER = struct.Struct(">II")
MAX_SEND_PAYLOAD = 4096
"""The Go receiver's limit per frame (ttrpc's default ``bufio.Reader`` size)."""
MAX_RECV_PAYLOAD = 1 << 24
"""The largest frame a Go sender writes (NRI 0.6.1's mux limit; 0.8.0 stays below it)."""


class MuxError(NriError):
    """The peer broke the mux framing (an oversized frame, a truncated header)."""


class MuxConn:
    """One logical conn of a :class:`Trunk`: a reader of its reassembled byte stream and a
    writer that frames what it is given."""

    __slots__ = ("conn_id", "reader", "trunk")

    def __init__(self, trunk: Trunk, conn_id: int) -> None:
        self.trunk = trunk
        self.conn_id = conn_id
        # A StreamReader with no transport only buffers: reassembly for free, and EOF or the
        # trunk's error reach whoever reads this conn.
        self.reader = asyncio.StreamReader()

    def write(self, data: bytes) -> None:
        """Queue ``data`` (any length) as frames of this conn, in one write."""
        self.trunk.send(self.conn_id, data)

    async def drain(self) -> None:
        await self.trunk.drain()


class Trunk:
    """The mux over one connected stream. :meth:`run` reads frames until the peer closes the
    socket (:class:`NriError`) or breaks the framing (:class:`MuxError`); either way every conn's
    reader then sees the same error, and the socket is closed."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn_ids: Iterable[int] = (PLUGIN_CONN, RUNTIME_CONN),
        *,
        max_send_payload: int = MAX_SEND_PAYLOAD,
        max_recv_payload: int = MAX_RECV_PAYLOAD,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.max_send_payload = max_send_payload
        self.max_recv_payload = max_recv_payload
        self.conns = {i: MuxConn(self, i) for i in conn_ids}
        self.frames_sent = 0
        self.largest_frame_sent = 0
        self.largest_frame_received = 0

    def conn(self, conn_id: int) -> MuxConn:
        return self.conns[conn_id]

    # ------------------------------------------------------------------ send

    def chunks(self, data: bytes) -> Iterator[bytes]:
        """How one message is cut into frame payloads (overridable: the test kit's runtime
        stand-in cuts like Go's ``bufio.Writer``)."""
        step = self.max_send_payload
        if len(data) <= step:
            yield data
            return
        view = memoryview(data)
        for start in range(0, len(data), step):
            yield bytes(view[start : start + step])

    def send(self, conn_id: int, data: bytes) -> None:
        if self._writer.is_closing():
            raise NriError(f"mux conn {conn_id}: trunk is closed")
        parts: list[bytes] = []
        for payload in self.chunks(data):
            parts.append(HEADER.pack(conn_id, len(payload)))
            parts.append(payload)
            self.frames_sent += 1
            self.largest_frame_sent = max(self.largest_frame_sent, len(payload))
        self._writer.write(b"".join(parts))

    def send_frame(self, conn_id: int, payload: bytes) -> None:
        """One frame exactly as given, no limit applied (hostile-peer tests only)."""
        self._writer.write(HEADER.pack(conn_id, len(payload)) + payload)

    def send_raw(self, data: bytes) -> None:
        """Bytes straight onto the socket (hostile-peer tests only)."""
        self._writer.write(data)

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as err:
            raise NriError(f"mux: cannot write: {err}") from err

    # ------------------------------------------------------------------ receive

    async def run(self) -> None:
        """Read frames until the trunk ends; always raises (never returns normally)."""
        try:
            while True:
                await self._read_frame()
        except BaseException as err:
            self._fail(err)
            raise
        finally:
            self.close()

    async def _read_frame(self) -> None:
        try:
            header = await self._reader.readexactly(HEADER.size)
        except asyncio.IncompleteReadError as err:
            if err.partial:
                raise MuxError(f"mux: truncated frame header ({len(err.partial)} bytes)") from err
            raise NriError("mux: trunk closed by peer") from err
        except ConnectionError as err:
            raise NriError(f"mux: trunk lost: {err}") from err
        conn_id, length = HEADER.unpack(header)
        if length > self.max_recv_payload:
            raise MuxError(
                f"mux conn {conn_id}: frame of {length} bytes exceeds the limit of"
                f" {self.max_recv_payload}"
            )
        try:
            payload = await self._reader.readexactly(length) if length else b""
        except (asyncio.IncompleteReadError, ConnectionError) as err:
            raise NriError(f"mux conn {conn_id}: trunk closed inside a frame") from err
        self.largest_frame_received = max(self.largest_frame_received, length)
        conn = self.conns.get(conn_id)
        if conn is None:
            logger.debug("mux frame for unknown conn dropped", extra={"conn_id": conn_id})
            return
        conn.reader.feed_data(payload)

    def _fail(self, err: BaseException) -> None:
        for conn in self.conns.values():
            if isinstance(err, Exception):
                conn.reader.set_exception(err if isinstance(err, NriError) else NriError(str(err)))
            else:
                conn.reader.feed_eof()

    def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()

    @property
    def closed(self) -> bool:
        return self._writer.is_closing()
