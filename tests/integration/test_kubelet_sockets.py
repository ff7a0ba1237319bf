"""Real grpc.aio servers on real Unix sockets, driven by the kubelet stand-in client."""

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
import uvloop

from drafast.config import KubeletSettings
from drafast.errors import RecoverableError, SocketError
from drafast.kubelet import KubeletCallError, KubeletClient, KubeletServer, server, sockets
from drafast.kubelet.client import RegistrationError, ReportedHealth
from drafast.kubelet.registration import RegistrationService, RegistrationState
from drafast.plugin.health import HealthBoard
from drafast.plugin.results import DeviceResult, PrepareResult, UnprepareResult
from drafast.types import (
    ClaimRef,
    ClaimUID,
    DeviceHealth,
    DeviceName,
    DriverName,
    Health,
    PoolName,
    RequestName,
)

pytestmark = pytest.mark.integration

DRIVER = DriverName("gpu.example.com")
# Shorter than a real pod UID: tmp_path alone uses ~60 of the 107 bytes a socket path may have.
POD_UID = "0c7f3a52-93d4-4c4e"


class FakeHandler:
    """Claim name decides the outcome: ``bad`` fails the claim, ``boom`` raises, ``down``
    raises a recoverable error, ``slow`` waits for :attr:`release`."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0

    async def prepare(self, claims: Sequence[ClaimRef]) -> Mapping[str, PrepareResult]:
        self.calls += 1
        await self._maybe_fail(claims)
        out: dict[str, PrepareResult] = {}
        for ref in claims:
            if ref.name == "bad":
                out[ref.uid] = PrepareResult(error=f"{ref}: not allocated")
                continue
            device = DeviceResult(
                request_names=(RequestName("gpu"),),
                pool=PoolName("node-a"),
                device=DeviceName(f"gpu-{ref.name}"),
                cdi_device_ids=(f"k8s.gpu.example.com/claim={ref.uid}",),
                share_id="share-1",
            )
            out[ref.uid] = PrepareResult(devices=(device,))
        return out

    async def unprepare(self, claims: Sequence[ClaimRef]) -> Mapping[str, UnprepareResult]:
        self.calls += 1
        await self._maybe_fail(claims)
        return {
            ref.uid: UnprepareResult(error="busy" if ref.name == "bad" else "") for ref in claims
        }

    async def _maybe_fail(self, claims: Sequence[ClaimRef]) -> None:
        names = {ref.name for ref in claims}
        if "boom" in names:
            raise RuntimeError("driver bug")
        if "down" in names:
            raise RecoverableError("API server unreachable")
        if "slow" in names:
            self.entered.set()
            await self.release.wait()


def ref(name: str, uid: str | None = None) -> ClaimRef:
    return ClaimRef(namespace="ns", name=name, uid=ClaimUID(f"uid-{name}" if uid is None else uid))


def healthy(device: str, health: Health = Health.HEALTHY) -> DeviceHealth:
    return DeviceHealth(pool=PoolName("node-a"), device=DeviceName(device), health=health)


@pytest.fixture
def settings(tmp_path: Path) -> KubeletSettings:
    (tmp_path / "plugin").mkdir()
    (tmp_path / "registry").mkdir()
    return KubeletSettings(
        driver_name=DRIVER,
        plugin_dir=tmp_path / "plugin",
        registry_dir=tmp_path / "registry",
        health_resend_seconds=0.3,
        shutdown_grace_seconds=5.0,
    )


@pytest.fixture
def handler() -> FakeHandler:
    return FakeHandler()


@pytest.fixture
async def board() -> HealthBoard:
    board = HealthBoard()
    await board.update([healthy("gpu-0"), healthy("gpu-1")])
    return board


@pytest.fixture
async def plugin(
    settings: KubeletSettings, handler: FakeHandler, board: HealthBoard
) -> AsyncIterator[KubeletServer]:
    async with KubeletServer(settings, handler, board) as srv:
        yield srv


@pytest.fixture
async def kubelet(plugin: KubeletServer) -> AsyncIterator[KubeletClient]:
    async with KubeletClient(registration_socket=plugin.paths.registration) as client:
        await client.register()
        yield client


async def test_registration_flow(plugin: KubeletServer, settings: KubeletSettings) -> None:
    assert plugin.paths.dra == settings.plugin_dir / "dra.sock"
    assert plugin.paths.registration == settings.registry_dir / "gpu.example.com-reg.sock"
    assert plugin.paths.dra.is_socket()
    assert plugin.paths.registration.is_socket()
    assert not plugin.registration.registered
    async with KubeletClient(registration_socket=plugin.paths.registration) as client:
        registered = await client.register()
    assert registered.version == "v1"
    assert registered.endpoint == plugin.paths.dra
    assert registered.info.type == "DRAPlugin"
    assert registered.info.name == "gpu.example.com"
    assert registered.info.supported_versions == (
        "v1.DRAPlugin",
        "v1beta1.DRAPlugin",
        "v1.DRAResourceHealth",
        "v1alpha1.DRAResourceHealth",
    )
    assert plugin.registration.registered
    assert plugin.registration.registered_event.is_set()


async def test_failed_registration_is_recorded_and_answered_with_an_error(
    plugin: KubeletServer,
) -> None:
    async with KubeletClient(registration_socket=plugin.paths.registration) as client:
        await client.notify(True)
        with pytest.raises(KubeletCallError) as err:
            await client.notify(False, "kubelet rejected the plugin")
    assert err.value.code == "UNKNOWN"
    assert "kubelet rejected the plugin" in err.value.details
    assert not plugin.registration.registered
    assert plugin.registration.last_error == "kubelet rejected the plugin"


async def test_kubelet_rejects_a_plugin_without_a_known_dra_version(tmp_path: Path) -> None:
    """The client plays the kubelet's side: validate, then report the failure to the plugin."""
    state = RegistrationState()
    registration = RegistrationService(
        driver_name=DRIVER,
        endpoint=tmp_path / "dra.sock",
        supported_versions=["v1alpha3.NodeService", "v1alpha1.DRAResourceHealth"],
        state=state,
    )
    srv = grpc.aio.server(handlers=registration.generic_handlers())
    srv.add_insecure_port(f"unix:{tmp_path / 'reg.sock'}")
    await srv.start()
    try:
        async with KubeletClient(registration_socket=tmp_path / "reg.sock") as client:
            with pytest.raises(RegistrationError, match="none of the services"):
                await client.register()
        assert state.notifications == 1
        assert not state.registered
        assert "v1alpha3.NodeService" in state.last_error
    finally:
        await srv.stop(None)


async def test_prepare_and_unprepare_v1(kubelet: KubeletClient) -> None:
    prepared = await kubelet.prepare([ref("a"), ref("b")], "v1")
    assert set(prepared) == {"uid-a", "uid-b"}
    (device,) = prepared["uid-a"].devices
    assert device == DeviceResult(
        request_names=(RequestName("gpu"),),
        pool=PoolName("node-a"),
        device=DeviceName("gpu-a"),
        cdi_device_ids=("k8s.gpu.example.com/claim=uid-a",),
        share_id="share-1",
    )
    unprepared = await kubelet.unprepare([ref("a"), ref("b")], "v1")
    assert unprepared == {"uid-a": UnprepareResult(), "uid-b": UnprepareResult()}


async def test_prepare_and_unprepare_v1beta1(kubelet: KubeletClient) -> None:
    prepared = await kubelet.prepare([ref("a")], "v1beta1")
    (device,) = prepared["uid-a"].devices
    assert device.device == "gpu-a"
    assert device.share_id is None  # v1beta1 cannot carry it
    assert await kubelet.unprepare([ref("a")], "v1beta1") == {"uid-a": UnprepareResult()}


async def test_per_claim_errors(kubelet: KubeletClient) -> None:
    prepared = await kubelet.prepare([ref("a"), ref("bad"), ref("empty", uid="")])
    assert prepared["uid-bad"] == PrepareResult(error="claim ns/bad (uid-bad): not allocated")
    assert prepared["uid-a"].error == ""
    assert "" in prepared
    unprepared = await kubelet.unprepare([ref("a"), ref("bad")])
    assert unprepared["uid-bad"].error == "busy"


async def test_backend_exception_is_internal_and_the_server_keeps_serving(
    kubelet: KubeletClient, handler: FakeHandler
) -> None:
    for version in ("v1", "v1beta1"):
        with pytest.raises(KubeletCallError) as err:
            await kubelet.prepare([ref("a"), ref("boom")], version)
        assert err.value.code == "INTERNAL"
        assert "RuntimeError: driver bug" in err.value.details
    with pytest.raises(KubeletCallError) as err:
        await kubelet.unprepare([ref("down")])
    assert err.value.code == "UNAVAILABLE"
    assert err.value.details == "unprepare failed: API server unreachable"
    assert (await kubelet.prepare([ref("a")]))["uid-a"].error == ""
    assert handler.calls == 4


async def _next(stream: AsyncIterator[tuple[ReportedHealth, ...]], within: float) -> list[str]:
    message = await asyncio.wait_for(anext(stream), within)
    return [f"{r.health.device}={r.health.health.name}" for r in message]


async def test_health_stream(kubelet: KubeletClient, board: HealthBoard) -> None:
    loop = asyncio.get_running_loop()
    for version in ("v1", "v1alpha1"):
        stream = kubelet.watch_health(version)
        started = loop.time()
        assert await _next(stream, 0.25) == ["gpu-0=HEALTHY", "gpu-1=HEALTHY"]
        assert loop.time() - started < 0.25  # at once, not after the resend period

        # Nothing changes: resent after the (short) resend period.
        before = loop.time()
        assert await _next(stream, 2.0) == ["gpu-0=HEALTHY", "gpu-1=HEALTHY"]
        assert loop.time() - before >= 0.2

        # A change is pushed right away.
        await asyncio.sleep(0.05)
        before = loop.time()
        await board.update([healthy("gpu-0", Health.UNHEALTHY), healthy("gpu-1")])
        assert await _next(stream, 0.25) == ["gpu-0=UNHEALTHY", "gpu-1=HEALTHY"]
        assert loop.time() - before < 0.25
        await board.update([healthy("gpu-0"), healthy("gpu-1")])
        await _next(stream, 0.25)
        await stream.aclose()


async def test_health_last_updated_time_is_now(kubelet: KubeletClient) -> None:
    now = time.time()
    stream = kubelet.watch_health()
    first = await asyncio.wait_for(anext(stream), 1.0)
    assert len(first) == 2
    assert all(abs(r.last_updated_time - now) <= 2 for r in first)
    await stream.aclose()


async def test_without_v1beta1_and_health(settings: KubeletSettings, handler: FakeHandler) -> None:
    async with (
        KubeletServer(replace(settings, serve_v1beta1=False), handler) as srv,
        KubeletClient(registration_socket=srv.paths.registration) as client,
    ):
        registered = await client.register()
        assert registered.info.supported_versions == ("v1.DRAPlugin",)
        with pytest.raises(KubeletCallError) as err:
            await client.prepare([ref("a")], "v1beta1")
        assert err.value.code == "UNIMPLEMENTED"
        with pytest.raises(KubeletCallError) as err:
            async with aclosing(client.watch_health()) as stream:
                await anext(stream)
        assert err.value.code == "UNIMPLEMENTED"


async def test_rolling_update_socket_names(settings: KubeletSettings, handler: FakeHandler) -> None:
    async with KubeletServer(replace(settings, pod_uid=POD_UID), handler) as srv:
        assert srv.paths.dra == settings.plugin_dir / f"dra-{POD_UID}.sock"
        assert srv.paths.registration == sockets.registration_socket(
            settings.registry_dir, DRIVER, POD_UID
        )
        assert srv.paths.registration.is_socket()
        assert srv.paths.dra.is_socket()
        async with KubeletClient(registration_socket=srv.paths.registration) as client:
            assert (await client.register()).endpoint == srv.paths.dra
            assert (await client.prepare([ref("a")]))["uid-a"].error == ""


def leave_stale_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # closed without unlinking: what a killed plugin leaves


async def test_stale_sockets_are_replaced_at_start(
    settings: KubeletSettings, handler: FakeHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = KubeletServer(settings, handler)
    leave_stale_socket(srv.paths.dra)
    leave_stale_socket(srv.paths.registration)
    removed: list[Path] = []

    def remove_stale(path: Path) -> None:
        was_socket = path.is_socket()
        real_remove_stale(path)
        if was_socket and not path.exists():
            removed.append(path)

    real_remove_stale = sockets.remove_stale
    monkeypatch.setattr(sockets, "remove_stale", remove_stale)
    async with srv, KubeletClient(registration_socket=srv.paths.registration) as client:
        await client.register()
        assert (await client.prepare([ref("a")]))["uid-a"].error == ""
    assert removed == [srv.paths.dra, srv.paths.registration]


async def test_refuses_to_replace_a_non_socket(
    settings: KubeletSettings, handler: FakeHandler
) -> None:
    srv = KubeletServer(settings, handler)
    srv.paths.registration.write_text("not mine")
    with pytest.raises(SocketError, match="not a socket"):
        await srv.start()
    assert srv.paths.registration.read_text() == "not mine"
    assert not srv.paths.dra.exists()  # the DRA server started first and was cleaned up
    assert not srv.serving


async def test_dra_socket_too_long(tmp_path: Path, handler: FakeHandler) -> None:
    deep = tmp_path / ("p" * 100)
    deep.mkdir()
    settings = KubeletSettings(driver_name=DRIVER, plugin_dir=deep, registry_dir=tmp_path)
    with pytest.raises(SocketError, match=r"DRA socket path .* bytes long"):
        await KubeletServer(settings, handler).start()


def dir_for(base: Path, name: str, total: int) -> Path:
    """A new directory below ``base`` in which ``name`` has a path of exactly ``total`` bytes."""
    pad = total - len(os.fsencode(base)) - 2 - len(name)
    path = base / ("d" * pad)
    path.mkdir()
    return path


async def test_socket_paths_of_exactly_107_bytes_work(tmp_path: Path, handler: FakeHandler) -> None:
    settings = KubeletSettings(
        driver_name=DRIVER,
        plugin_dir=dir_for(tmp_path, "dra.sock", 107),
        registry_dir=dir_for(tmp_path, "gpu.example.com-reg.sock", 107),
    )
    async with (
        KubeletServer(settings, handler) as srv,
        KubeletClient(registration_socket=srv.paths.registration) as client,
    ):
        assert len(os.fsencode(srv.paths.dra)) == 107
        assert len(os.fsencode(srv.paths.registration)) == 107
        await client.register()
        assert (await client.prepare([ref("a")]))["uid-a"].error == ""


async def test_sockets_removed_at_stop(settings: KubeletSettings, handler: FakeHandler) -> None:
    srv = KubeletServer(settings, handler)
    await srv.start()
    assert srv.paths.dra.is_socket()
    assert srv.paths.registration.is_socket()
    await srv.stop()
    assert not srv.paths.dra.exists()
    assert not srv.paths.registration.exists()
    assert list(settings.plugin_dir.iterdir()) == []
    await srv.stop()  # idempotent
    # ... and it can serve again.
    await srv.start()
    async with KubeletClient(dra_socket=srv.paths.dra) as client:
        assert (await client.prepare([ref("a")]))["uid-a"].error == ""
    await srv.stop()


async def test_in_flight_call_completes_during_graceful_stop(
    settings: KubeletSettings, handler: FakeHandler, board: HealthBoard
) -> None:
    srv = KubeletServer(settings, handler, board)
    await srv.start()
    async with KubeletClient(registration_socket=srv.paths.registration) as client:
        await client.register()
        health = client.watch_health()
        await anext(health)
        call = asyncio.create_task(client.prepare([ref("slow")]), name="slow-prepare")
        await asyncio.wait_for(handler.entered.wait(), 5)
        stopping = asyncio.create_task(srv.stop(grace=10), name="stop")

        # Deregistration is immediate; the open health stream ends cleanly.
        for _ in range(200):
            if not srv.paths.registration.exists():
                break
            await asyncio.sleep(0.01)
        assert not srv.paths.registration.exists()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(health), 5)
        assert not call.done()
        assert not stopping.done()

        handler.release.set()
        result = await asyncio.wait_for(call, 5)
        assert result["uid-slow"].error == ""
        await asyncio.wait_for(stopping, 5)
    assert not srv.paths.dra.exists()


async def test_dra_socket_serves_before_registration_appears(
    settings: KubeletSettings, handler: FakeHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    dra_path = KubeletServer(settings, handler).paths.dra
    seen: list[str] = []
    real_serve = server._serve

    async def serve(path: Path, handlers: list[grpc.GenericRpcHandler]) -> server._Served:
        if path == settings.registry_dir / "gpu.example.com-reg.sock":
            assert not await asyncio.to_thread(path.exists)
            # The endpoint the kubelet will learn must already answer calls.
            async with KubeletClient(dra_socket=dra_path) as client:
                assert await client.prepare([]) == {}
            seen.append("registration")
        else:
            seen.append("dra")
        return await real_serve(path, handlers)

    monkeypatch.setattr(server, "_serve", serve)
    async with KubeletServer(settings, handler):
        pass
    assert seen == ["dra", "registration"]


def test_runs_on_uvloop(settings: KubeletSettings) -> None:
    """The app installs uvloop; grpc.aio must work on it end to end."""

    async def scenario() -> tuple[str, str, bool]:
        loop_type = type(asyncio.get_running_loop()).__module__
        board = HealthBoard()
        await board.update([healthy("gpu-0")])
        async with (
            KubeletServer(settings, FakeHandler(), board) as srv,
            KubeletClient(registration_socket=srv.paths.registration) as client,
        ):
            await client.register()
            result = await client.prepare([ref("a")])
            first = await anext(client.watch_health())
            return loop_type, result["uid-a"].devices[0].device, bool(first)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        loop_type, device, got_health = runner.run(scenario())
    assert loop_type.startswith("uvloop")
    assert device == "gpu-a"
    assert got_health
