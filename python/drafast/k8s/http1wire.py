"""The wire side of :mod:`drafast.k8s.http1`: its errors, the server's origin, and one
keep-alive connection that reads a response head and its body (``Content-Length``, chunked, or
up to EOF). The pool and the request logic are in :mod:`drafast.k8s.http1`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


class HttpError(Exception):
    """A request got no (complete) response."""


class ConnectError(HttpError):
    """Connecting failed: the request was never sent."""


class TLSError(HttpError):
    """The TLS handshake failed (an unknown CA, a wrong server name)."""


class Disconnected(HttpError):
    """The connection broke before the response was complete. ``nothing_received``: it ended
    before any byte of a response (EOF), or was reset before a response head was complete: what
    a request meets on a connection the server closed while it was idle."""

    def __init__(self, message: str, *, nothing_received: bool = False) -> None:
        super().__init__(message)
        self.nothing_received = nothing_received


class ProtocolError(HttpError):
    """The peer did not answer with HTTP/1.x."""


class InvalidURL(HttpError):
    """The server (or proxy) URL cannot be used."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where requests go: scheme, host, port and the base path of the server URL."""

    scheme: str
    host: str
    port: int
    base_path: str

    @classmethod
    def parse(cls, url: str) -> Origin:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as err:
            raise InvalidURL(f"{url}: {err}") from err
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidURL(f"{url}: expected http(s)://host[:port][/path]")
        default = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname, port or default, parts.path.rstrip("/"))

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


class Response:
    """Status line and headers (names lower-cased); ``body`` once read."""

    __slots__ = ("_conn", "body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str]) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = b""
        self._conn: Connection | None = None

    async def iter_any(self, read_timeout: float | None = None) -> AsyncIterator[bytes]:
        """The body as it arrives (a streamed response); each read within ``read_timeout``."""
        conn = self._conn
        if conn is None:
            if self.body:
                yield self.body
            return
        pieces = conn.body(self.headers, None)
        try:
            while True:
                async with asyncio.timeout(read_timeout):
                    chunk = await anext(pieces, None)
                if chunk is None:
                    return
                yield chunk
        finally:
            await pieces.aclose()

    def close(self) -> None:
        """Drop the connection of a streamed response (it is never reused)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Connection:
    __slots__ = ("_on_close", "idle_since", "reader", "reused", "writer")

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_close: Callable[[], None],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False
        self.idle_since = 0.0
        self._on_close: Callable[[], None] | None = on_close

    def usable(self) -> bool:
        """Not closed by either side, as far as the event loop has seen: a FIN from the server
        shows as EOF on the reader."""
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()
        if self._on_close is not None:  # once: gives the pool its slot back
            on_close, self._on_close = self._on_close, None
            on_close()

    async def head(self) -> Response:
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as err:
            raise Disconnected("server disconnected", nothing_received=not err.partial) from err
        except asyncio.LimitOverrunError as err:
            raise ProtocolError("response head too long") from err
        except (ConnectionError, OSError) as err:
            # A reset before a complete head: the server did not answer (no partial head is used).
            raise Disconnected(str(err) or type(err).__name__, nothing_received=True) from err
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ProtocolError(f"not an HTTP/1.x response: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return Response(int(code), reason, headers)

    async def read_all(self, headers: Mapping[str, str], method: str) -> bytes:
        """The whole body (the common case: one read for a ``Content-Length``)."""
        length = headers.get("content-length")
        if length is not None and "chunked" not in headers.get("transfer-encoding", "").lower():
            try:
                return await self.reader.readexactly(int(length))
            except asyncio.IncompleteReadError as err:
                raise Disconnected("server disconnected") from err
            except ValueError as err:
                raise ProtocolError(f"malformed Content-Length: {length!r}") from err
            except (ConnectionError, OSError) as err:
                raise Disconnected(str(err) or type(err).__name__) from err
        return b"".join([p async for p in self.body(headers, method)])

    async def body(
        self, headers: Mapping[str, str], method: str | None
    ) -> AsyncGenerator[bytes, None]:
        """The body's pieces, by the framing the headers announce."""
        r = self.reader
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                while True:
                    size_line = await r.readuntil(b"\r\n")
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        while (await r.readuntil(b"\r\n")) != b"\r\n":
                            pass  # trailers
                        return
                    chunk = await r.readexactly(size)
                    await r.readexactly(2)
                    yield chunk
            elif (length := headers.get("content-length")) is not None:
                remaining = int(length)
                while remaining > 0:
                    chunk = await r.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise Disconnected("server disconnected")
                    remaining -= len(chunk)
                    yield chunk
            elif method != "HEAD":
                while chunk := await r.read(1 << 20):
                    yield chunk
        except asyncio.IncompleteReadError as err:
            raise Disconnected("server disconnected") from err
        except (asyncio.LimitOverrunError, ValueError) as err:
            raise ProtocolError(f"malformed body framing: {err}") from err
        except (ConnectionError, OSError) as err:
            raise Disconnected(str(err) or type(err).__name__) from err
