"""Health messages (truncation, fields) and the stream's send schedule."""

import asyncio
from typing import Any

import pytest

from drafast.kubelet.health import (
    HealthService,
    device_health,
    response_v1,
    response_v1alpha1,
    truncate,
)
from drafast.kubelet.proto.health.v1 import api_pb2 as v1
from drafast.kubelet.proto.health.v1alpha1 import api_pb2 as v1alpha1
from drafast.plugin.health import HealthBoard
from drafast.types import DeviceHealth, DeviceName, Health, PoolName


def dev(name: str, health: Health = Health.HEALTHY, **kw: Any) -> DeviceHealth:
    return DeviceHealth(pool=PoolName("node-a"), device=DeviceName(name), health=health, **kw)


@pytest.mark.parametrize(
    ("length", "expected_length", "ellipsis"),
    [
        (0, 0, False),
        (1023, 1023, False),
        (1024, 1024, False),
        (1025, 1024, True),
        (5000, 1024, True),
    ],
)
def test_truncate(length: int, expected_length: int, ellipsis: bool) -> None:
    message = "".join(chr(ord("a") + i % 26) for i in range(length))
    out = truncate(message)
    assert len(out) == expected_length
    if ellipsis:
        assert out == message[:1021] + "..."
    else:
        assert out == message


def test_truncate_counts_characters() -> None:
    assert truncate("é" * 1024) == "é" * 1024  # 2048 bytes but 1024 characters: kept


def test_response_fields() -> None:
    devices = [
        dev("gpu-0"),
        dev("gpu-1", Health.UNHEALTHY, message="x" * 2000, timeout_seconds=90),
        dev("gpu-2", Health.UNKNOWN),
    ]
    for build, pb in ((response_v1, v1), (response_v1alpha1, v1alpha1)):
        resp = build(devices, 1_750_000_000)
        assert isinstance(resp, pb.NodeWatchResourcesResponse)
        a, b, c = resp.devices
        assert (a.device.pool_name, a.device.device_name) == ("node-a", "gpu-0")
        assert [a.health, b.health, c.health] == [pb.HEALTHY, pb.UNHEALTHY, pb.UNKNOWN]
        assert {a.last_updated_time, b.last_updated_time, c.last_updated_time} == {1_750_000_000}
        assert a.health_check_timeout_seconds == 0
        assert b.health_check_timeout_seconds == 90
        assert b.message == "x" * 1021 + "..."
        assert [device_health(d) for d in (a, c)] == [devices[0], devices[2]]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_stream_sends_at_once_on_change_and_periodically() -> None:
    board = HealthBoard()
    await board.update([dev("gpu-0")])
    clock = Clock()
    service = HealthService(board, resend_seconds=0.2, clock=clock)
    stream = service.watch_v1(v1.NodeWatchResourcesRequest(), None)  # type: ignore[arg-type]

    loop = asyncio.get_running_loop()
    started = loop.time()
    first = await asyncio.wait_for(anext(stream), 0.1)
    assert [d.device.device_name for d in first.devices] == ["gpu-0"]
    assert first.devices[0].last_updated_time == 1000

    # A change is pushed long before the resend period.
    clock.now = 1001.0
    nxt = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    await board.update([dev("gpu-0", Health.UNHEALTHY), dev("gpu-1")])
    changed = await asyncio.wait_for(nxt, 0.1)
    assert [d.health for d in changed.devices] == [v1.UNHEALTHY, v1.HEALTHY]
    assert changed.devices[0].last_updated_time == 1001
    assert loop.time() - started < 0.2

    # Nothing changes: the same list again after the resend period, with a fresh timestamp.
    clock.now = 1002.0
    before = loop.time()
    again = await asyncio.wait_for(anext(stream), 1.0)
    assert loop.time() - before >= 0.15
    assert [d.device.device_name for d in again.devices] == ["gpu-0", "gpu-1"]
    assert again.devices[0].last_updated_time == 1002
    await stream.aclose()


async def test_close_ends_open_streams() -> None:
    board = HealthBoard()
    service = HealthService(board, resend_seconds=60)
    stream = service.watch_v1alpha1(v1alpha1.NodeWatchResourcesRequest(), None)  # type: ignore[arg-type]
    first = await anext(stream)
    assert list(first.devices) == []  # an empty board is still reported at once
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    service.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 1.0)


async def test_cancelled_stream_leaves_no_tasks_behind() -> None:
    board = HealthBoard()
    service = HealthService(board, resend_seconds=60)

    async def consume() -> None:
        async for _ in service.watch_v1(v1.NodeWatchResourcesRequest(), None):  # type: ignore[arg-type]
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("health-wait")]
    assert leftovers == []
