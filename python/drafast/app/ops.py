"""``--bind-address``: ``/healthz`` (``/livez``, ``/readyz``) and ``/metrics`` over plain HTTP.

Liveness is proven through the real sockets (GetInfo on the registration socket and an empty
NodePrepareResources on the DRA socket, as the kubelet would call them), not by in-process flags.
Readiness additionally needs the kubelet's registration and a first successful slice publish.
"""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from drafast.app.address import parse_bind_address
from drafast.errors import ConfigError
from drafast.runtime.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Probes:
    live: Callable[[], Awaitable[str | None]]
    """None when alive, else the reason."""
    ready: Callable[[], Awaitable[str | None]]


def socket_liveness(registration: Path, dra: Path) -> Callable[[], Awaitable[str | None]]:
    async def live() -> str | None:
        # Imported at the first probe, not at start: the plugin itself never calls the kubelet.
        from drafast.kubelet.client import KubeletClient

        try:
            async with KubeletClient(
                registration_socket=registration, dra_socket=dra, call_timeout=2.0
            ) as client:
                await client.get_info()
                await client.prepare([])
        except Exception as err:  # any failure means "not alive"; say which
            return f"gRPC sockets do not answer: {err}"
        return None

    return live


class OpsServer:
    def __init__(self, bind: str, probes: Probes, metrics: Metrics) -> None:
        address = parse_bind_address(bind)
        self.unix_path = Path(address) if isinstance(address, str) else None
        self.host, self.port = ("", 0) if isinstance(address, str) else address
        self.probes = probes
        self.metrics = metrics
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        """Where it serves, as ``--bind-address`` spells it (the real port once started)."""
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def start(self) -> None:
        try:
            if self.unix_path is not None:
                self._remove_stale_socket(self.unix_path)
                self._server = await asyncio.start_unix_server(self._handle, self.unix_path)
            else:
                self._server = await asyncio.start_server(self._handle, self.host, self.port)
                self.port = self._server.sockets[0].getsockname()[1]
        except OSError as err:
            raise ConfigError(
                f"--bind-address {self.address}: cannot listen: {err.strerror or err}"
            ) from err
        log.info("ops endpoint serving", extra={"address": self.address})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            if self.unix_path is not None:
                self.unix_path.unlink(missing_ok=True)

    @staticmethod
    def _remove_stale_socket(path: Path) -> None:
        """A socket file left by a killed process is replaced; anything else is not ours."""
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ConfigError(f"--bind-address unix:{path}: exists and is not a socket")
        path.unlink()

    async def _route(self, path: str) -> tuple[int, str, bytes]:
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.metrics.registry)
        if path in ("/healthz", "/livez", "/readyz"):
            problem = await self.probes.live()
            if problem is None and path != "/livez":
                problem = await self.probes.ready()
            if problem is None:
                return 200, "text/plain", b"ok\n"
            return 503, "text/plain", f"{problem}\n".encode()
        return 404, "text/plain", b"not found\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else "/"
            status, ctype, body = await self._route(path)
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
