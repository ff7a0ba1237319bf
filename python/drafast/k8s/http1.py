"""A small HTTP/1.1 client for one API server: keep-alive connections over asyncio streams.

The API client needs little of HTTP: requests with a JSON body, responses read whole (by
``Content-Length``, chunked, or up to EOF) and one streaming case (watches). aiohttp does all of
that and much more, at ~0.4 ms of Python per request and ~10 MiB of imports in every plugin
process; a claim GET is on the path of every prepare. This module does just the part the API
client uses, with the standard library: ``asyncio`` streams (uvloop's in a plugin), ``ssl``, an
HTTP(S) proxy through ``CONNECT``.

Connections: at most ``max_connections`` open at once (one request each); up to ``max_idle``
of them kept for ``idle_timeout`` seconds after their response, as client-go's transport does
(``MaxIdleConnsPerHost`` 25, ``IdleConnTimeout`` 90 s). The most recently used idle connection
is taken first, so the oldest ones expire when traffic falls; an expired connection is closed,
never reused. An idle connection the server closed is found at the next request (its EOF) and
replaced; when the close crosses the request on the wire, a GET or HEAD goes out once more on a
fresh connection (nothing else is repeated: the server may have acted on it).

Errors: :class:`ConnectError` (nothing was sent: safe to repeat for any verb), :class:`TLSError`
(a TLS setup or verification failure: repeating cannot help), :class:`Disconnected` (the
connection broke after the request went out), :class:`ProtocolError` (not HTTP), and the
builtin :class:`TimeoutError`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode, urlsplit

MAX_HEAD: Final = 64 * 1024
MAX_POOL: Final = 32
"""Connections open at once, as aiohttp's default limit (HTTP/1.1: one request each)."""
MAX_IDLE: Final = 25
"""Idle connections kept for the next requests (client-go's ``MaxIdleConnsPerHost``): a prepare
of many claims GETs them concurrently, and each GET that finds no idle connection pays a connect
(and a TLS handshake). A burst's connections beyond this are closed."""
IDLE_TIMEOUT: Final = 90.0
"""Seconds an idle connection is kept (client-go's ``IdleConnTimeout``); then it is closed. API
servers and load balancers drop quiet connections on their own, at times without a FIN that
arrives in time: a connection this old is not worth the risk."""
_TIMER_SLACK: Final = 0.005
"""The expiry timer may fire this much early (uvloop's timers run in whole milliseconds)."""


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
        self._conn: _Conn | None = None

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


class _Conn:
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


class Http1Client:
    """Requests to one origin over a pool of keep-alive connections (one request at a time per
    connection, as HTTP/1.1 without pipelining)."""

    def __init__(
        self,
        origin: Origin,
        *,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None = None,
        proxy: str | None = None,
        proxy_auth: tuple[str, str] | None = None,
        default_headers: Mapping[str, str] | None = None,
        max_connections: int = MAX_POOL,
        max_idle: int = MAX_IDLE,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.origin = origin
        self._ssl = ssl_context if origin.scheme == "https" else None
        if origin.scheme == "https" and self._ssl is None:
            self._ssl = ssl.create_default_context()
        self._server_hostname = server_hostname
        self._proxy = Origin.parse(proxy) if proxy else None
        self._proxy_header = ""
        if proxy_auth is not None:
            token = base64.b64encode(f"{proxy_auth[0]}:{proxy_auth[1]}".encode()).decode()
            self._proxy_header = f"Proxy-Authorization: Basic {token}\r\n"
        self._prefix = (
            f"{origin.scheme}://{origin.authority}{origin.base_path}"
            if self._proxy is not None and origin.scheme == "http"
            else origin.base_path
        )
        fixed = {"Host": origin.authority, **(default_headers or {})}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()) + self._proxy_header * (
            self._proxy is not None and origin.scheme == "http"
        )
        # Oldest first: taken from the end (the most recently used), expired from the front.
        self._idle: deque[_Conn] = deque()
        self._max_idle = min(max_idle, max_connections)
        self._idle_timeout = idle_timeout
        self._expiry: asyncio.TimerHandle | None = None
        self._max_open = max_connections
        self._open_count = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    # ------------------------------------------------------------------ requests

    def _head(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> bytes:
        target = self._prefix + path
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body is not None:
            extra += f"Content-Length: {len(body)}\r\n"
        elif method in ("POST", "PUT", "PATCH"):
            extra += "Content-Length: 0\r\n"
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}{extra}\r\n".encode("latin-1")
        return head + body if body else head

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout: float | None,  # noqa: ASYNC109 (per attempt, as the retry loop sets it)
    ) -> Response:
        """Send and read the whole response; ``timeout`` bounds everything."""
        data = self._head(method, path, params, headers, body)
        retry = method in ("GET", "HEAD")  # idempotent, and once only
        fresh = False
        async with asyncio.timeout(timeout):
            while True:
                conn = await self._acquire(fresh=fresh)
                try:
                    conn.writer.write(data)
                    resp = await conn.head()
                    resp.body = await conn.read_all(resp.headers, method)
                except Disconnected as err:
                    conn.close()
                    if retry and conn.reused and err.nothing_received:
                        # The server closed this idle connection as the request went out (its
                        # FIN had not arrived when the connection was taken): no answer came,
                        # so send it again, on a new connection (the other idle ones may be as
                        # stale: the server restarted, or dropped them all).
                        retry, fresh = False, True
                        continue
                    raise
                except BaseException:
                    conn.close()
                    raise
                self._release(conn, resp)
                return resp

    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str],
        connect_timeout: float | None,
    ) -> Response:
        """Send and read the head; the caller iterates :meth:`Response.iter_any`, then closes.
        The connection is used for this response alone."""
        data = self._head(method, path, params, headers, None)
        async with asyncio.timeout(connect_timeout):
            conn = await self._acquire(fresh=True)
        try:
            conn.writer.write(data)
            async with asyncio.timeout(connect_timeout):
                resp = await conn.head()
        except BaseException:
            conn.close()
            raise
        resp._conn = conn
        return resp

    async def close(self) -> None:
        self._closed = True
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        idle, self._idle = self._idle, deque()
        for conn in idle:
            conn.close()

    @property
    def idle_connections(self) -> int:
        """Connections kept for the next requests (open, not expired as of the last check)."""
        return len(self._idle)

    # ------------------------------------------------------------------ connections

    async def _acquire(self, *, fresh: bool = False) -> _Conn:
        """An idle connection (unless ``fresh``), else a new one within the limit, else wait
        for one to come back or close."""
        while True:
            if self._idle:
                self._expire(asyncio.get_running_loop().time())  # even if the timer is late
            while self._idle and not fresh:
                conn = self._idle.pop()
                if conn.usable():
                    conn.reused = True
                    return conn
                conn.close()  # the server closed it while it was idle
            if self._open_count < self._max_open:
                self._open_count += 1
                return await self._open()  # gives the slot back if it fails
            if fresh and self._idle:
                self._idle.popleft().close()  # needs a connection of its own: make room
                continue
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _closed_one(self) -> None:
        self._open_count -= 1
        self._wake()

    def _release(self, conn: _Conn, resp: Response) -> None:
        keep = resp.headers.get("connection", "").lower() != "close"
        idle_ok = len(self._idle) < self._max_idle or self._waiters
        if keep and idle_ok and not self._closed and conn.usable():
            loop = asyncio.get_running_loop()
            conn.idle_since = loop.time()
            self._idle.append(conn)
            if self._expiry is None:
                self._expiry = loop.call_at(conn.idle_since + self._idle_timeout, self._on_expiry)
            self._wake()
        else:
            conn.close()

    def _expire(self, now: float) -> None:
        """Close the idle connections that have been idle for ``idle_timeout`` or longer."""
        idle = self._idle
        while idle and now - idle[0].idle_since >= self._idle_timeout:
            idle.popleft().close()

    def _on_expiry(self) -> None:
        """The timer: one at a time, due when the oldest idle connection expires."""
        self._expiry = None
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        self._expire(loop.time() + _TIMER_SLACK)
        if self._idle:
            self._expiry = loop.call_at(
                self._idle[0].idle_since + self._idle_timeout, self._on_expiry
            )

    async def _open(self) -> _Conn:
        target = self._proxy or self.origin
        try:
            reader, writer = await self._connect_to(target)
        except BaseException:
            self._closed_one()
            raise
        conn = _Conn(reader, writer, self._closed_one)
        if self._proxy is not None and self._ssl is not None:
            try:
                await self._tunnel(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    async def _connect_to(
        self, target: Origin
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.open_connection(
                target.host,
                target.port,
                ssl=self._ssl if self._proxy is None else None,
                server_hostname=self._hostname() if self._proxy is None else None,
                limit=MAX_HEAD,
            )
        except ssl.SSLError as err:
            raise TLSError(str(err)) from err
        except OSError as err:
            raise ConnectError(
                f"cannot connect to {target.authority}: {err.strerror or err}"
            ) from err

    def _hostname(self) -> str | None:
        return (self._server_hostname or self.origin.host) if self._ssl is not None else None

    async def _tunnel(self, conn: _Conn) -> None:
        """CONNECT through the proxy, then TLS to the server inside the tunnel."""
        authority = self.origin.authority
        if ":" not in authority.rsplit("]", 1)[-1]:
            authority += f":{self.origin.port}"
        conn.writer.write(
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{self._proxy_header}\r\n".encode(
                "latin-1"
            )
        )
        try:
            resp = await conn.head()
        except HttpError as err:
            conn.close()
            raise ConnectError(f"proxy {self._proxy and self._proxy.authority}: {err}") from err
        if resp.status != 200:
            conn.close()
            raise ConnectError(
                f"proxy {self._proxy and self._proxy.authority} refused CONNECT {authority}:"
                f" {resp.status} {resp.reason}"
            )
        assert self._ssl is not None
        try:
            await conn.writer.start_tls(self._ssl, server_hostname=self._hostname())
        except ssl.SSLError as err:
            conn.close()
            raise TLSError(str(err)) from err
        except OSError as err:
            conn.close()
            raise ConnectError(f"TLS through the proxy: {err.strerror or err}") from err
