"""A small HTTP/1.1 client for one API server: keep-alive connections over asyncio streams.

The API client needs little of HTTP: requests with a JSON body, responses read whole (by
``Content-Length``, chunked, or up to EOF) and one streaming case (watches). aiohttp does all of
that and much more, at ~0.4 ms of Python per request and ~10 MiB of imports in every plugin
process; a claim GET is on the path of every prepare. This module does just the part the API
client uses, with the standard library: ``asyncio`` streams (uvloop's in a plugin), ``ssl``, an
HTTP(S) proxy through ``CONNECT``.

Connections: at most ``max_connections`` open at once (one request each); up to ``max_idle``
of them (all, by default) kept for ``idle_timeout`` seconds after their response, as
client-go's transport does (``IdleConnTimeout`` 90 s). The most recently used idle connection
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
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlencode

from drafast.k8s.http1wire import (
    ConnectError,
    Connection,
    Disconnected,
    HttpError,
    Origin,
    Response,
    TLSError,
)

MAX_HEAD: Final = 64 * 1024
MAX_POOL: Final = 32
"""Connections open at once, as aiohttp's default limit (HTTP/1.1: one request each)."""
MAX_IDLE: Final = MAX_POOL
"""Idle connections kept for the next requests: a prepare of many claims GETs them concurrently,
and each GET that finds no idle connection pays a connect and a TLS handshake (~1 ms of CPU).
client-go keeps 25 (``MaxIdleConnsPerHost``), but it speaks HTTP/2 to the API server: one
connection carries every request. Over HTTP/1.1 a burst fills the whole pool, and keeping fewer
than that meant a few handshakes in every burst of 64 claims."""
IDLE_TIMEOUT: Final = 90.0
"""Seconds an idle connection is kept (client-go's ``IdleConnTimeout``); then it is closed. API
servers and load balancers drop quiet connections on their own, at times without a FIN that
arrives in time: a connection this old is not worth the risk."""
_TIMER_SLACK: Final = 0.005
"""The expiry timer may fire this much early (uvloop's timers run in whole milliseconds)."""


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
        self._idle: deque[Connection] = deque()
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

    async def _acquire(self, *, fresh: bool = False) -> Connection:
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

    def _release(self, conn: Connection, resp: Response) -> None:
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

    async def _open(self) -> Connection:
        target = self._proxy or self.origin
        try:
            reader, writer = await self._connect_to(target)
        except BaseException:
            self._closed_one()
            raise
        conn = Connection(reader, writer, self._closed_one)
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

    async def _tunnel(self, conn: Connection) -> None:
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
