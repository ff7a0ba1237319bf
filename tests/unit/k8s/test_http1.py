"""The HTTP/1.1 client against raw servers: body framings, keep-alive, a closed idle connection,
a CONNECT proxy, and its errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from drafast.k8s.http1 import (
    ConnectError,
    Disconnected,
    Http1Client,
    InvalidURL,
    Origin,
    ProtocolError,
)

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
