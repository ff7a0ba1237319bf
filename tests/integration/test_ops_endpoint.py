"""/healthz, /readyz, /livez and /metrics of a running plugin, over real HTTP."""

import asyncio
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from drafast.app.settings import RunOptions
from drafast.errors import ConfigError
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


def probe_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drafast", "probe", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_a_unix_socket_endpoint_serves_the_exec_probe(
    opts: RunOptions, tmp_path: Path
) -> None:
    """Host-network pods (two per node during a rolling update) serve ops on a Unix socket and
    are probed with ``drafast probe``; the socket goes with the process."""
    sock = tmp_path / "ops.sock"
    sock.touch()  # not a socket: refused, named, and left alone
    with pytest.raises(ConfigError, match=f"unix:{sock}: exists and is not a socket"):
        async with running_plugin(replace(opts, bind_address=f"unix:{sock}")):
            pass
    assert sock.is_file()
    sock.unlink()
    async with running_plugin(replace(opts, bind_address=f"unix:{sock}"), register=False) as t:
        assert sock.is_socket()
        address = f"unix:{sock}"
        live = await asyncio.to_thread(probe_command, "livez", "--bind-address", address)
        assert live.returncode == 0, live.stderr
        ready = await asyncio.to_thread(probe_command, "--bind-address", address)  # readyz
        assert ready.returncode == 1
        assert "/readyz: HTTP 503: " in ready.stderr and "not registered" in ready.stderr
        await t.kubelet.register()
        ready = await asyncio.to_thread(probe_command, "--bind-address", address)
        assert ready.returncode == 0, ready.stderr
        metrics = await asyncio.to_thread(probe_command, "metrics", "--bind-address", address)
        assert "drafast_prepared_claims" in metrics.stdout
    assert not sock.exists()
    gone = probe_command("livez", "--bind-address", f"unix:{sock}")
    assert gone.returncode == 1 and f"unix:{sock}: no answer" in gone.stderr


async def test_a_stale_socket_file_is_replaced(opts: RunOptions, tmp_path: Path) -> None:
    sock = tmp_path / "ops.sock"
    with socket.socket(socket.AF_UNIX) as s:  # a killed process's leftover
        s.bind(str(sock))
    async with running_plugin(replace(opts, bind_address=f"unix:{sock}")):
        live = await asyncio.to_thread(probe_command, "livez", "--bind-address", f"unix:{sock}")
        assert live.returncode == 0, live.stderr


def test_the_probe_names_a_bad_address() -> None:
    out = probe_command("--bind-address", "unix:relative.sock")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "drafast probe: error: --bind-address unix:relative.sock: a unix: address needs an"
        " absolute path, e.g. unix:/run/drafast/ops.sock"
    )
    assert "Traceback" not in out.stderr
