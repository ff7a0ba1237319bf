"""The NRI runtime stand-in itself, driven by a raw client over a real socket: it must refuse
what containerd refuses, or the plugin tests prove nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drafast.errors import NriError
from drafast.nri import names
from drafast.nri.mux import RUNTIME_CONN, Trunk
from drafast.nri.proto import api_pb2 as api
from drafast.nri.ttrpc import Client, RpcError
from drafast.testing import wait_until
from drafast.testing.nri import NriRuntime

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def raw_client(rt: NriRuntime) -> AsyncIterator[tuple[Trunk, Client]]:
    """A bare trunk and a conn-2 client, with nothing serving conn 1."""
    reader, writer = await asyncio.open_unix_connection(str(rt.socket))
    trunk = Trunk(reader, writer)
    client = Client(trunk.conn(RUNTIME_CONN), timeout=5)
    tasks = [asyncio.create_task(trunk.run()), asyncio.create_task(client.run())]
    try:
        yield trunk, client
    finally:
        trunk.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def register(client: Client, name: str, index: str) -> bytes:
    req = api.RegisterPluginRequest(plugin_name=name, plugin_idx=index)
    return await client.call(names.RUNTIME_SERVICE, names.REGISTER_PLUGIN, req.SerializeToString())


async def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    sock = tmp_path / "nri.sock"
    sock.write_text("stale")
    async with NriRuntime(sock) as rt, raw_client(rt):
        await wait_until("the connection", lambda: rt.connections == 1)


async def test_a_frame_over_4096_bytes_is_cannot_allocate_memory(tmp_path: Path) -> None:
    async with NriRuntime(tmp_path / "nri.sock") as rt, raw_client(rt) as (trunk, _):
        trunk.send_frame(RUNTIME_CONN, bytes(5066))  # TV-J as one frame: what Go cannot read
        await wait_until(
            "the stand-in to refuse the frame",
            lambda: 'error receiving message error="cannot allocate memory"' in rt.log,
        )
        await wait_until("the connection to drop", lambda: trunk.closed)


@pytest.mark.parametrize(
    ("name", "index", "problem"),
    [("", "00", "empty plugin name"), ("x", "1", "invalid plugin index"), ("x", "a0", "index")],
)
async def test_registration_is_validated_like_the_runtime(
    tmp_path: Path, name: str, index: str, problem: str
) -> None:
    async with NriRuntime(tmp_path / "nri.sock") as rt, raw_client(rt) as (trunk, client):
        with pytest.raises(RpcError, match=problem):
            await register(client, name, index)
        await wait_until("the connection to drop", lambda: trunk.closed)
        assert rt.plugin is None


async def test_a_plugin_that_never_registers_times_out(tmp_path: Path) -> None:
    async with (
        NriRuntime(tmp_path / "nri.sock", registration_timeout=0.2) as rt,
        raw_client(rt) as (trunk, _),
    ):
        await wait_until("the registration timeout", lambda: trunk.closed)
        await wait_until("the log line", lambda: "plugin registration timed out" in rt.log)


async def test_a_plugin_that_does_not_answer_configure_is_closed(tmp_path: Path) -> None:
    async with (
        NriRuntime(tmp_path / "nri.sock", request_timeout=0.2) as rt,
        raw_client(rt) as (trunk, client),
    ):
        await register(client, "mute", "00")  # and never serves conn 1
        await wait_until("the connection to drop", lambda: trunk.closed)
        await wait_until(
            "the log line",
            lambda: any("failed to configure plugin 00-mute" in line for line in rt.log),
        )
        with pytest.raises(NriError):
            await register(client, "mute", "00")
