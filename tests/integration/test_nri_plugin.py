"""NriPlugin against the runtime stand-in over a real Unix socket: setup, events, errors,
reconnection after every kind of trouble, frame limits, readiness."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from drafast.errors import ConfigError, DeviceError
from drafast.nri import names
from drafast.nri.plugin import NriPlugin, NriStatus
from drafast.runtime.backoff import Backoff
from drafast.testing import wait_until
from drafast.testing.nri import NriRuntime, PluginRefusedError
from drafast.types import ContainerAdjustment, ContainerRef, ContainerUpdate

pytestmark = pytest.mark.integration

SHARED = "0-1"


class Recorder:
    """ContainerHooks that records every call and pins like a tiny CPU driver: a container with
    ``DRA_CPUSET_*`` env gets those CPUs, every other one the shared pool ``SHARED``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.synced: list[list[str]] = []
        self.sync_updates: list[ContainerUpdate] = []
        self.create_updates: list[ContainerUpdate] = []
        self.stop_updates: list[ContainerUpdate] = []
        self.fail: dict[str, Exception] = {}
        """Hook name -> the error it raises (once)."""
        self.gate: asyncio.Event | None = None
        """When set, ``create`` waits for it (a slow or stuck hook)."""
        self.entered = asyncio.Event()

    def _maybe_fail(self, hook: str) -> None:
        err = self.fail.pop(hook, None)
        if err is not None:
            raise err

    async def synchronize(self, containers: Sequence[ContainerRef]) -> Sequence[ContainerUpdate]:
        self.calls.append(("synchronize", ",".join(c.id for c in containers)))
        self.synced.append([c.id for c in containers])
        self._maybe_fail("synchronize")
        return self.sync_updates

    async def create(self, container: ContainerRef) -> ContainerAdjustment:
        self.calls.append(("create", container.id))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        self._maybe_fail("create")
        pinned = [v for k, v in container.env.items() if k.startswith("DRA_CPUSET_")]
        return ContainerAdjustment(
            cpuset_cpus=",".join(pinned) or SHARED, updates=tuple(self.create_updates)
        )

    async def update(self, container: ContainerRef) -> Sequence[ContainerUpdate]:
        self.calls.append(("update", container.id))
        self._maybe_fail("update")
        return [ContainerUpdate(container_id=container.id, cpuset_cpus=container.cpuset_cpus)]

    async def stopped(self, container: ContainerRef) -> Sequence[ContainerUpdate]:
        self.calls.append(("stopped", container.id))
        self._maybe_fail("stopped")
        return self.stop_updates

    async def removed(self, container: ContainerRef) -> None:
        self.calls.append(("removed", container.id))
        self._maybe_fail("removed")


@pytest.fixture
def hooks() -> Recorder:
    return Recorder()


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[NriRuntime]:
    async with NriRuntime(tmp_path / "nri" / "nri.sock") as runtime:
        yield runtime
        # Whatever a test did, updates rode on replies only.
        assert runtime.update_containers_calls == 0


def plugin_for(rt: NriRuntime, hooks: Recorder, **kw: object) -> NriPlugin:
    return NriPlugin(
        rt.socket,
        name="dra-cpu",
        index="00",
        hooks=hooks,
        backoff=Backoff(initial=0.02, cap=0.1),
        **kw,  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def running(plugin: NriPlugin) -> AsyncIterator[NriPlugin]:
    task = asyncio.create_task(plugin.run(), name="nri-plugin-under-test")
    try:
        yield plugin
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not task.done() or task.cancelled()  # run() never ends by itself


# --------------------------------------------------------------------------- setup


@pytest.mark.parametrize("flavor", ["0.8.0", "0.6.1"])
async def test_register_configure_synchronize(tmp_path: Path, hooks: Recorder, flavor: str) -> None:
    # 0.6.1: the stand-in answers RegisterPlugin only after Configure was answered, so this
    # also proves the plugin serves conn 1 while its own call on conn 2 is still open.
    async with NriRuntime(tmp_path / "nri.sock", flavor=flavor) as rt:  # type: ignore[arg-type]
        old = rt.add_container("pod-a", "old", cpus="0-7")
        hooks.sync_updates = [
            ContainerUpdate(container_id=old.id, cpuset_cpus="2-7"),
            ContainerUpdate(container_id="gone", cpuset_cpus="1"),  # unknown: skipped
        ]
        plugin = plugin_for(rt, hooks)
        async with running(plugin):
            await rt.wait_synchronized()
            assert rt.plugin is not None
            assert rt.plugin.name == "00-dra-cpu"
            assert rt.plugin.events == names.PLUGIN_EVENTS == 0x688
            assert hooks.synced == [[old.id]]
            assert rt.cpusets() == {old.id: "2-7"}
            await plugin.wait_synchronized()
            assert plugin.status == NriStatus(connected=True, synchronized=True, reason="")
            assert plugin.synchronizations == 1
        assert "update of unknown container gone skipped" in rt.log
        assert rt.update_containers_calls == 0


async def test_a_paged_synchronize_reaches_the_hook_once(tmp_path: Path, hooks: Recorder) -> None:
    async with NriRuntime(tmp_path / "nri.sock", sync_limit=2000) as rt:
        ids = [rt.add_container(f"pod-{i % 5}", f"c{i}", cpus="0-7").id for i in range(60)]
        hooks.sync_updates = [ContainerUpdate(container_id=i, cpuset_cpus=SHARED) for i in ids]
        async with running(plugin_for(rt, hooks)):
            await rt.wait_synchronized()
        assert hooks.synced == [ids]
        assert set(rt.cpusets().values()) == {SHARED}


async def test_a_4_mib_synchronize_arrives_in_go_sized_frames(
    tmp_path: Path, hooks: Recorder
) -> None:
    # Over ttrpc's 4 MiB: NRI 0.8.0 pages it, and each page arrives as 4096 + ~4 MiB frames.
    async with NriRuntime(tmp_path / "nri.sock") as rt:
        big = {"BLOB": "x" * 4000}
        ids = [rt.add_container("pod", f"c{i}", env=big).id for i in range(1100)]
        async with running(plugin_for(rt, hooks)):
            await rt.wait_synchronized()
        assert hooks.synced == [ids]


# --------------------------------------------------------------------------- events


async def test_events_reach_the_hooks_in_order_and_their_updates_apply(
    rt: NriRuntime, hooks: Recorder
) -> None:
    plugin = plugin_for(rt, hooks)
    async with running(plugin):
        await rt.wait_synchronized()
        shared = await rt.create_container("pod-a", "web")
        assert shared.cpus == SHARED
        assert shared.env == {}

        hooks.create_updates = [ContainerUpdate(container_id=shared.id, cpuset_cpus="0")]
        pinned = await rt.create_container("pod-b", "db", env={"DRA_CPUSET_abc": "2-3"})
        hooks.create_updates = []
        assert pinned.cpus == "2-3"
        assert rt.cpusets() == {shared.id: "0", pinned.id: "2-3"}  # the other one moved first

        updated = await rt.update_container(pinned.id, cpus="0-7")
        assert updated.cpus == "2-3"  # the plugin's update of the target wins

        hooks.stop_updates = [ContainerUpdate(container_id=shared.id, cpuset_cpus="0-1,4-7")]
        await rt.stop_container(pinned.id)
        await rt.stop_container(pinned.id)  # once per container
        assert rt.cpusets()[shared.id] == "0-1,4-7"

        await rt.remove_container(pinned.id)
        await rt.remove_container(shared.id)  # not stopped yet: a StopContainer comes first
        assert rt.containers == {}
    assert hooks.calls == [
        ("synchronize", ""),
        ("create", shared.id),
        ("create", pinned.id),
        ("update", pinned.id),
        ("stopped", pinned.id),
        ("removed", pinned.id),
        ("stopped", shared.id),
        ("removed", shared.id),
    ]


async def test_an_update_with_an_empty_cpuset_is_not_sent(rt: NriRuntime, hooks: Recorder) -> None:
    async with running(plugin_for(rt, hooks)):
        await rt.wait_synchronized()
        c = await rt.create_container("pod", "web")
        hooks.stop_updates = [ContainerUpdate(container_id=c.id, cpuset_cpus="")]
        other = await rt.create_container("pod", "other")
        await rt.stop_container(other.id)
        assert rt.cpusets()[c.id] == SHARED


async def test_a_hook_error_fails_the_create_with_its_message_and_serving_goes_on(
    rt: NriRuntime, hooks: Recorder
) -> None:
    plugin = plugin_for(rt, hooks)
    async with running(plugin):
        await rt.wait_synchronized()
        hooks.fail["create"] = DeviceError("container ctr-1: claim abc has no CPUs left")
        with pytest.raises(PluginRefusedError, match="claim abc has no CPUs left"):
            await rt.create_container("pod", "app", container_id="ctr-1")
        hooks.fail["create"] = KeyError("bug")
        with pytest.raises(PluginRefusedError, match="internal error: KeyError"):
            await rt.create_container("pod", "app", container_id="ctr-2")
        hooks.fail["update"] = DeviceError("nope")
        c = await rt.create_container("pod", "app", container_id="ctr-3")
        with pytest.raises(PluginRefusedError, match="nope"):
            await rt.update_container(c.id, cpus="5")
        hooks.fail["stopped"] = DeviceError("only logged")
        await rt.stop_container(c.id)  # a failed stop hook fails nothing
        assert c.id in rt.containers
        assert plugin.synchronizations == 1  # never reconnected
        assert rt.connections == 1
    assert list(rt.containers) == ["ctr-3"]


async def test_an_adjustment_with_an_empty_cpuset_fails_the_create(
    rt: NriRuntime, hooks: Recorder
) -> None:
    async def create(container: ContainerRef) -> ContainerAdjustment:
        return ContainerAdjustment(cpuset_cpus="")  # an empty pool (dra-driver-cpu#295)

    hooks.create = create  # type: ignore[method-assign]
    async with running(plugin_for(rt, hooks)):
        await rt.wait_synchronized()
        with pytest.raises(PluginRefusedError, match="container ctr-9: empty cpuset"):
            await rt.create_container("pod", "app", container_id="ctr-9")


async def test_an_update_of_the_container_being_created_fails_it(
    rt: NriRuntime, hooks: Recorder
) -> None:
    async with running(plugin_for(rt, hooks)):
        await rt.wait_synchronized()
        hooks.create_updates = [ContainerUpdate(container_id="ctr-5", cpuset_cpus="3")]
        with pytest.raises(PluginRefusedError, match='asked update of "ctr-5" during creation'):
            await rt.create_container("pod", "app", container_id="ctr-5")


async def test_hooks_never_overlap(rt: NriRuntime, hooks: Recorder) -> None:
    active = 0
    peak = 0
    base_create = hooks.create

    async def create(container: ContainerRef) -> ContainerAdjustment:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return await base_create(container)

    hooks.create = create  # type: ignore[method-assign]
    async with running(plugin_for(rt, hooks)):
        await rt.wait_synchronized()
        # The stand-in serializes its own events; the plugin must also serialize a runtime that
        # does not (a StopContainer from an exit goroutine beside a create): call it directly.
        assert rt.plugin is not None
        from drafast.nri.proto import api_pb2 as api

        req = api.CreateContainerRequest(
            pod=api.PodSandbox(id="sb"), container=api.Container(id="x")
        ).SerializeToString()
        calls = [
            rt.plugin.client.call(names.PLUGIN_SERVICE, names.CREATE_CONTAINER, req)
            for _ in range(5)
        ]
        await asyncio.gather(*calls)
    assert peak == 1


# --------------------------------------------------------------------------- trouble


async def test_runtime_restart_reconnects_and_resyncs(rt: NriRuntime, hooks: Recorder) -> None:
    plugin = plugin_for(rt, hooks)
    async with running(plugin):
        await rt.wait_synchronized()
        c = await rt.create_container("pod", "web")
        await rt.restart()
        await rt.wait_synchronized(after=1)
        await wait_until("plugin resynchronized", lambda: plugin.synchronizations == 2)
        assert hooks.synced == [[], [c.id]]
        assert plugin.status.synchronized


@pytest.mark.parametrize("trouble", ["garbage", "oversized-frame", "hang-up"])
async def test_protocol_trouble_makes_the_plugin_reconnect(
    rt: NriRuntime, hooks: Recorder, trouble: str
) -> None:
    plugin = plugin_for(rt, hooks)
    async with running(plugin):
        await rt.wait_synchronized()
        if trouble == "garbage":
            rt.send_garbage()
        elif trouble == "oversized-frame":
            rt.send_oversized_frame()
        else:
            rt.drop_connection()
        await rt.wait_synchronized(after=1)
        assert rt.connections == 2
        c = await rt.create_container("pod", "web")
        assert c.cpus == SHARED


async def test_a_disconnect_mid_call_lets_the_event_proceed_and_the_plugin_reconnect(
    rt: NriRuntime, hooks: Recorder
) -> None:
    plugin = plugin_for(rt, hooks)
    async with running(plugin):
        await rt.wait_synchronized()
        hooks.gate = asyncio.Event()
        create = asyncio.create_task(rt.create_container("pod", "web"))
        await asyncio.wait_for(hooks.entered.wait(), 10)
        rt.drop_connection()
        c = await asyncio.wait_for(create, 10)
        assert c.cpus == ""  # the runtime went on without the plugin: unpinned
        hooks.gate.set()
        await rt.wait_synchronized(after=1)
        assert hooks.synced[-1] == [c.id]  # the resync sees the unpinned container
        assert not any("cannot allocate memory" in line for line in rt.log)


async def test_a_slow_reply_closes_the_plugin_and_the_event_proceeds(
    tmp_path: Path, hooks: Recorder
) -> None:
    async with NriRuntime(tmp_path / "nri.sock", request_timeout=0.3) as rt:
        plugin = plugin_for(rt, hooks)
        async with running(plugin):
            await rt.wait_synchronized()
            hooks.gate = asyncio.Event()
            c = await rt.create_container("pod", "web")
            assert c.cpus == ""
            assert any("context deadline exceeded" in line for line in rt.log)
            hooks.gate.set()
            await rt.wait_synchronized(after=1)
            assert plugin.synchronizations == 2


@pytest.mark.parametrize("flavor", ["0.8.0", "0.6.1"])
async def test_a_failed_synchronize_makes_the_plugin_reconnect(
    tmp_path: Path, hooks: Recorder, flavor: str
) -> None:
    # 0.8.0 closes such a plugin; 0.6.1 keeps the connection but never sends it events, so the
    # plugin must hang up and come back by itself.
    async with NriRuntime(tmp_path / "nri.sock", flavor=flavor) as rt:  # type: ignore[arg-type]
        hooks.fail["synchronize"] = DeviceError("cannot read the CPU topology")
        plugin = plugin_for(rt, hooks)
        async with running(plugin):
            await rt.wait_synchronized()
            assert rt.connections == 2
            assert len(hooks.synced) == 2
            assert any("cannot read the CPU topology" in line for line in rt.log)
            assert plugin.status.synchronized


async def test_a_big_reply_goes_out_in_frames_of_at_most_4096_bytes(
    rt: NriRuntime, hooks: Recorder
) -> None:
    ids = [rt.add_container("pod", f"c{i}", cpus="0-7").id for i in range(400)]
    hooks.sync_updates = [
        ContainerUpdate(container_id=i, cpuset_cpus="0-1,4-7,9,11-13,15-17") for i in ids
    ]
    async with running(plugin_for(rt, hooks)):
        await rt.wait_synchronized()
        assert rt.plugin is not None
        # The stand-in refuses frames over 4096 ("cannot allocate memory"), as Go's mux does.
        assert rt.plugin.trunk.largest_frame_received == 4096
        assert set(rt.cpusets().values()) == {"0-1,4-7,9,11-13,15-17"}
    assert not any("cannot allocate memory" in line for line in rt.log)


# --------------------------------------------------------------------------- status


async def test_status_follows_the_connection(rt: NriRuntime, hooks: Recorder) -> None:
    await rt.close()  # nothing listens yet
    plugin = plugin_for(rt, hooks)
    assert plugin.status == NriStatus(connected=False, synchronized=False, reason="not started")
    async with running(plugin):
        await wait_until("a failed dial", lambda: "cannot connect" in plugin.status.reason)
        assert not plugin.status.connected
        await rt.start()
        await asyncio.wait_for(plugin.wait_synchronized(), 10)
        assert plugin.status == NriStatus(connected=True, synchronized=True, reason="")
        await rt.close()
        await wait_until("the plugin to notice", lambda: not plugin.status.connected)
        assert not plugin.status.synchronized
        assert plugin.status.reason


def test_the_plugin_index_is_checked_like_the_runtime_does(tmp_path: Path) -> None:
    for bad in ("0", "000", "a1", "\u0660\u0661"):  # Arabic-Indic digits are not ASCII
        with pytest.raises(ConfigError, match="exactly two digits"):
            NriPlugin(tmp_path / "s", name="x", index=bad, hooks=Recorder())
    with pytest.raises(ConfigError, match="name must not be empty"):
        NriPlugin(tmp_path / "s", name="", index="00", hooks=Recorder())


async def test_shutdown_is_answered_and_newer_rpcs_are_unimplemented(
    rt: NriRuntime, hooks: Recorder
) -> None:
    from drafast.nri.ttrpc import RpcError

    async with running(plugin_for(rt, hooks)):
        await rt.wait_synchronized()
        assert rt.plugin is not None
        client = rt.plugin.client
        assert await client.call(names.PLUGIN_SERVICE, names.SHUTDOWN, b"") == b""
        # NRI >= 0.12 runtimes try dedicated RPCs first and fall back on exactly code 12.
        with pytest.raises(RpcError, match=r"^method RunPodSandbox$") as err:
            await client.call(names.PLUGIN_SERVICE, "RunPodSandbox", b"")
        assert err.value.code == 12
        c = await rt.create_container("pod", "web")  # still serving
        assert c.cpus == SHARED


async def test_an_oversized_0_6_1_synchronize_is_not_a_silent_dead_end(
    tmp_path: Path, hooks: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    # NRI 0.6.1 sends a >4 MiB Synchronize unchecked; we refuse it (ttrpc's cap), the runtime
    # keeps us connected but never adds us. The plugin must notice, reconnect and say why.
    async with NriRuntime(tmp_path / "nri.sock", flavor="0.6.1") as rt:
        big = {"BLOB": "x" * 4000}
        for i in range(1100):
            rt.add_container("pod", f"c{i}", env=big)
        plugin = plugin_for(rt, hooks)
        async with running(plugin):
            caplog.set_level(logging.WARNING, logger="drafast.nri.plugin")
            await wait_until("a second connection", lambda: rt.connections >= 2)
            lost = [r for r in caplog.records if r.getMessage() == "nri connection lost"]
            assert "exceeds the limit" in lost[0].error  # type: ignore[attr-defined]
            assert any("failed to synchronize plugin 00-dra-cpu" in line for line in rt.log)
            assert hooks.synced == []
            assert rt.plugin is None
