"""The HTTP/1.1 client against raw servers: body framings, keep-alive, the idle pool (its limit,
its expiry, a connection the server closed), a CONNECT proxy, and its errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from drafast.k8s.http1 import IDLE_TIMEOUT, MAX_IDLE, Http1Client
from drafast.k8s.http1wire import ConnectError, Disconnected, InvalidURL, Origin, ProtocolError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            head += await reader.readexactly(int(line.split(b":")[1]))
    return head


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Server:
        s = Server(handler)
        srv = await asyncio.start_server(s._serve, "127.0.0.1", 0)
        servers.append(srv)
        s.port = srv.sockets[0].getsockname()[1]
        return s

    yield start
    for srv in servers:
        srv.close()


Serve = Callable[[Handler], Awaitable[Server]]


def _client(port: int, **kwargs: object) -> Http1Client:
    return Http1Client(Origin.parse(f"http://127.0.0.1:{port}"), ssl_context=None, **kwargs)  # type: ignore[arg-type]


def answering(*responses: bytes, keep_open: bool = True) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for resp in responses:
            await _read_request(reader)
            writer.write(resp)
            await writer.drain()
        if keep_open:
            await reader.read()  # until the client closes

    return handler


async def test_content_length_chunked_and_eof_bodies(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    )
    s = await serve(
        answering(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            chunked,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\nuntil-eof",
            keep_open=False,
        )
    )
    client = _client(s.port)
    bodies = []
    for _ in range(4):
        resp = await client.request("GET", "/x", headers={}, timeout=5)
        bodies.append((resp.status, resp.reason, resp.body))
    await client.close()
    assert bodies == [
        (200, "OK", b"hello"),
        (200, "OK", b"abcde"),
        (404, "Not Found", b""),
        (200, "OK", b"until-eof"),
    ]
    assert s.connections == 1, "keep-alive: one connection for all four"


async def test_request_line_headers_params_and_body(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()

    s = await serve(handler)
    client = Http1Client(
        Origin.parse(f"http://127.0.0.1:{s.port}/prefix/"),
        ssl_context=None,
        default_headers={"User-Agent": "t"},
    )
    resp = await client.request(
        "POST",
        "/api/v1/nodes",
        params={"fieldSelector": "a=b,c!=d"},
        headers={"Content-Type": "application/json"},
        body=b'{"a":1}',
        timeout=5,
    )
    await client.close()
    assert resp.status == 201
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /prefix/api/v1/nodes?fieldSelector=a%3Db%2Cc%21%3Dd HTTP/1.1"
    assert f"Host: 127.0.0.1:{s.port}" in lines
    assert "User-Agent: t" in lines and "Content-Length: 7" in lines
    assert body == b'{"a":1}'


async def test_a_get_on_an_idle_connection_the_server_closed_is_sent_again(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    s = await serve(answering(ok, keep_open=False))  # answers once per connection, then closes
    client = _client(s.port)
    assert (await client.request("GET", "/a", headers={}, timeout=5)).body == b"ok"
    await asyncio.sleep(0.05)  # the server's close arrives
    assert (await client.request("GET", "/a", headers={}, timeout=5)).body == b"ok"
    await client.close()
    assert s.connections == 2


async def test_a_post_is_never_sent_twice(serve: Serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)  # takes the request, then the connection dies

    s = await serve(handler)
    client = _client(s.port)
    with pytest.raises(Disconnected):
        await client.request("POST", "/a", headers={}, body=b"{}", timeout=5)
    await client.close()
    assert s.connections == 1


async def test_connect_refused_timeout_and_garbage(serve: Serve) -> None:
    s = await serve(answering(b"SSH-2.0-OpenSSH\r\n\r\n"))
    with pytest.raises(ProtocolError, match=r"not an HTTP/1\.x response"):
        await _client(s.port).request("GET", "/", headers={}, timeout=5)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    quiet = await serve(silent)
    with pytest.raises(TimeoutError):
        await _client(quiet.port).request("GET", "/", headers={}, timeout=0.1)

    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    with pytest.raises(ConnectError, match=r"cannot connect to 127\.0\.0\.1"):
        await _client(port).request("GET", "/", headers={}, timeout=5)
    with pytest.raises(InvalidURL):
        Origin.parse("ftp://example.com")


async def test_a_streamed_response_arrives_chunk_by_chunk(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\none\n\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"4\r\ntwo\n\r\n0\r\n\r\n")
        await writer.drain()

    s = await serve(handler)
    resp = await _client(s.port).stream("GET", "/w", headers={}, connect_timeout=5)
    chunks = resp.iter_any(read_timeout=5)
    assert await anext(chunks) == b"one\n"
    release.set()
    assert [c async for c in chunks] == [b"two\n"]
    resp.close()


async def test_https_origin_through_a_connect_proxy(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    """The tunnel is asked for; the TLS handshake inside it then fails against a plain server,
    which proves the bytes went through the proxy to the origin."""
    asked: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        writer.write(b"not TLS at all\r\n")
        await writer.drain()
        await reader.read()

    p = await serve(proxy)
    client = Http1Client(
        Origin.parse("https://api.example:6443"),
        ssl_context=None,
        proxy=f"http://127.0.0.1:{p.port}",
        proxy_auth=("u", "p"),
    )
    with pytest.raises(Exception):  # noqa: B017 (TLSError or ConnectError: either way, not plain)
        await client.request("GET", "/", headers={}, timeout=5)
    lines = asked[0].decode().split("\r\n")
    assert lines[0] == "CONNECT api.example:6443 HTTP/1.1"
    assert "Proxy-Authorization: Basic dTpw" in lines


async def test_connections_are_limited_and_a_burst_leaves_few_idle(serve: Serve) -> None:
    open_now = peak = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            while True:
                await _read_request(reader)
                await asyncio.sleep(0.02)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        finally:
            open_now -= 1

    s = await serve(handler)
    client = Http1Client(
        Origin.parse(f"http://127.0.0.1:{s.port}"), ssl_context=None, max_connections=3, max_idle=1
    )
    out = await asyncio.gather(
        *(client.request("GET", "/", headers={}, timeout=5) for _ in range(10))
    )
    assert [r.body for r in out] == [b"ok"] * 10
    assert peak == 3
    await asyncio.sleep(0.05)
    assert open_now == 1, "the burst's other connections were closed"
    await client.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait for something the event loop delivers (a close seen by the other side)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (the other side's counters: nothing to wait on)
            await asyncio.sleep(0.005)
    assert condition(), what


class Counting:
    """A keep-alive server that counts open connections; with ``together``, it answers only
    once that many requests are waiting (so each has a connection of its own)."""

    def __init__(self) -> None:
        self.open = 0
        self.together = 0
        self._waiting = 0
        self._go = asyncio.Event()

    def burst(self, n: int) -> None:
        self.together, self._waiting = n, 0
        self._go = asyncio.Event()

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            while True:
                await _read_request(reader)
                if self.together:
                    self._waiting += 1
                    if self._waiting == self.together:
                        self._go.set()
                    await self._go.wait()
                writer.write(OK)
                await writer.drain()
        finally:
            self.open -= 1


async def test_a_burst_leaves_max_idle_connections_which_the_next_burst_reuses(
    serve: Serve,
) -> None:
    assert (MAX_IDLE, IDLE_TIMEOUT) == (32, 90.0), "the whole pool; client-go's idle timeout"
    counting = Counting()
    s = await serve(counting.handler)
    client = _client(s.port, max_idle=25)  # 32 open at most, 25 kept idle
    counting.burst(30)
    out = await asyncio.gather(
        *(client.request("GET", "/", headers={}, timeout=10) for _ in range(30))
    )
    assert [r.body for r in out] == [b"ok"] * 30 and s.connections == 30
    assert client.idle_connections == 25
    await eventually(lambda: counting.open == 25, "the 5 beyond the idle limit were closed")
    counting.burst(25)
    out = await asyncio.gather(
        *(client.request("GET", "/", headers={}, timeout=10) for _ in range(25))
    )
    assert [r.body for r in out] == [b"ok"] * 25
    assert s.connections == 30, "25 concurrent requests went out on the 25 idle connections"


async def test_by_default_a_burst_that_fills_the_pool_keeps_it_all(serve: Serve) -> None:
    """64 claims in one prepare: 64 GETs through 32 connections, every one kept for the next
    burst (HTTP/1.1 carries one request at a time: fewer kept meant handshakes per burst)."""
    counting = Counting()
    s = await serve(counting.handler)
    client = _client(s.port)
    for _ in range(3):
        out = await asyncio.gather(
            *(client.request("GET", "/", headers={}, timeout=10) for _ in range(64))
        )
        assert [r.body for r in out] == [b"ok"] * 64
        assert client.idle_connections == 32
    assert s.connections == 32, "the second and third bursts connected nowhere"
    await client.close()
    await eventually(lambda: counting.open == 0, "close() closes the idle connections")


@pytest.mark.parametrize(("idle_timeout", "connections"), [(0.05, 2), (IDLE_TIMEOUT, 1)])
async def test_an_idle_connection_expires_after_the_idle_timeout(
    serve: Serve, idle_timeout: float, connections: int
) -> None:
    counting = Counting()
    s = await serve(counting.handler)
    client = _client(s.port, idle_timeout=idle_timeout)
    assert (await client.request("GET", "/", headers={}, timeout=5)).body == b"ok"
    await asyncio.sleep(0.2)
    if connections == 2:  # expired: closed by the client while idle, not at the next request
        assert client.idle_connections == 0
        await eventually(lambda: counting.open == 0, "the expired connection was closed")
    else:
        assert client.idle_connections == 1 and counting.open == 1
    assert (await client.request("GET", "/", headers={}, timeout=5)).body == b"ok"
    assert s.connections == connections
    await client.close()


async def test_an_expired_connection_is_not_reused_when_its_timer_is_late(
    serve: Serve,
) -> None:
    counting = Counting()
    s = await serve(counting.handler)
    client = _client(s.port, idle_timeout=0.05)
    assert (await client.request("GET", "/", headers={}, timeout=5)).body == b"ok"
    # Blocks the loop on purpose: the expiry timer cannot run before the next request.
    time.sleep(0.1)  # noqa: ASYNC251
    assert client.idle_connections == 1
    assert (await client.request("GET", "/", headers={}, timeout=5)).body == b"ok"
    assert s.connections == 2
    await eventually(lambda: counting.open == 1, "the expired one was closed, not reused")
    await client.close()


def once_per_connection(*, then_answer_on: set[int]) -> Handler:
    """Connection n answers its first request (if n is in ``then_answer_on``), then takes the
    next one and closes without a word: a server closing an idle connection just as a request
    arrives on it."""
    seen = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        seen += 1
        if seen in then_answer_on:
            await _read_request(reader)
            writer.write(OK)
            await writer.drain()
        await _read_request(reader)

    return handler


async def test_a_get_on_a_reused_connection_closed_under_it_goes_out_once_more(
    serve: Serve,
) -> None:
    s = await serve(once_per_connection(then_answer_on={1, 2}))
    client = _client(s.port)
    assert (await client.request("GET", "/a", headers={}, timeout=5)).body == b"ok"
    assert client.idle_connections == 1
    # Taken from idle, the request goes out, the server closes: sent again on a new connection.
    assert (await client.request("GET", "/a", headers={}, timeout=5)).body == b"ok"
    assert s.connections == 2
    await client.close()


async def test_the_get_is_repeated_once_only_and_on_a_new_connection(serve: Serve) -> None:
    """Two idle connections, both closed by the server as a request arrives, and new connections
    no better: the GET goes out twice (an idle one, then a new one), not on every idle one."""
    conns = dropped = waiting = 0
    both = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal conns, dropped, waiting
        conns += 1
        if conns <= 2:  # answer one request each, at the same time, then go idle
            await _read_request(reader)
            waiting += 1
            if waiting == 2:
                both.set()
            await both.wait()
            writer.write(OK)
            await writer.drain()
        await _read_request(reader)
        dropped += 1

    s = await serve(handler)
    client = _client(s.port)
    out = await asyncio.gather(*(client.request("GET", "/", headers={}, timeout=5) for _ in "ab"))
    assert [r.body for r in out] == [b"ok", b"ok"] and client.idle_connections == 2
    with pytest.raises(Disconnected):
        await client.request("GET", "/a", headers={}, timeout=5)
    assert (dropped, s.connections) == (2, 3)
    assert client.idle_connections == 1  # not tried
    await client.close()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_other_verbs_on_a_reused_connection_closed_under_them_are_not_repeated(
    serve: Serve, method: str
) -> None:
    s = await serve(once_per_connection(then_answer_on={1, 2}))
    client = _client(s.port)
    assert (await client.request("GET", "/a", headers={}, timeout=5)).body == b"ok"
    with pytest.raises(Disconnected):
        await client.request(method, "/a", headers={}, body=b"{}", timeout=5)
    assert s.connections == 1, "the server may have acted on it: the caller decides"
    await client.close()
