"""/healthz, /readyz, /livez and /metrics of a running plugin, over real HTTP."""

import asyncio

import pytest

from drafast.app.settings import RunOptions
from drafast.testing import allocated_claim, running_plugin

pytestmark = pytest.mark.integration


async def get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = (await reader.read()).decode()
    writer.close()
    head, _, body = data.partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_probes_follow_registration_and_metrics_count_claims(opts: RunOptions) -> None:
    async with running_plugin(opts, register=False) as t:
        assert t.plugin.ops is not None
        port = t.plugin.ops.port
        assert await get(port, "/livez") == (200, "ok\n")  # both sockets answer
        status, body = await get(port, "/readyz")
        assert status == 503 and "not registered" in body
        await t.kubelet.register()
        assert await get(port, "/healthz") == (200, "ok\n")

        ref = t.add_claim(
            allocated_claim(
                namespace="ns",
                name="c",
                driver="file.drafast.dev",
                devices=[("r", "node-1", "alpha")],
                pods=["p"],
            )
        )
        await t.kubelet.prepare([ref])
        status, text = await get(port, "/metrics")
        assert status == 200
        assert (
            'drafast_claims_total{driver="file.drafast.dev",operation="prepare",'
            'result="success"} 1.0'
        ) in text
        assert 'drafast_prepared_claims{driver="file.drafast.dev"} 1.0' in text
        assert "drafast_operation_duration_seconds_bucket" in text
        assert (await get(port, "/nope"))[0] == 404


async def test_liveness_fails_when_the_dra_socket_is_gone(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        assert t.plugin.ops is not None
        t.plugin.server.paths.dra.unlink()  # someone removed our socket
        status, body = await get(t.plugin.ops.port, "/livez")
        assert status == 503 and "gRPC sockets do not answer" in body
