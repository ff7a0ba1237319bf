"""DRAResourceHealth v1alpha1 and v1: stream the :class:`HealthBoard` to the kubelet.

The kubelet stamps its own receive time on every reported device and marks devices Unknown when
nothing arrived for their timeout (30 s default), so the complete list is sent at once, on every
change, and again at least every ``health_resend_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from typing import Any

import grpc
import grpc.aio

from drafast.kubelet.methods import (
    HEALTH_V1_SERVICE,
    HEALTH_V1ALPHA1_SERVICE,
    WATCH_RESOURCES,
    HealthVersion,
)
from drafast.kubelet.proto.health.v1 import api_pb2 as v1
from drafast.kubelet.proto.health.v1alpha1 import api_pb2 as v1alpha1
from drafast.plugin.health import HealthBoard
from drafast.types import DeviceHealth, DeviceName, Health, PoolName

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1024
Context = grpc.aio.ServicerContext[Any, Any]
Clock = Callable[[], float]


def truncate(message: str) -> str:
    """The kubelet's own rule: longer than 1024 characters -> the first 1021 + ``...``."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 3] + "..."


def response_v1(devices: Iterable[DeviceHealth], now: int) -> v1.NodeWatchResourcesResponse:
    resp = v1.NodeWatchResourcesResponse()
    for d in devices:
        resp.devices.add(
            device=v1.DeviceIdentifier(pool_name=d.pool, device_name=d.device),
            health=v1.HealthStatus.Value(d.health.name),
            last_updated_time=now,
            health_check_timeout_seconds=d.timeout_seconds,
            message=truncate(d.message),
        )
    return resp


def response_v1alpha1(
    devices: Iterable[DeviceHealth], now: int
) -> v1alpha1.NodeWatchResourcesResponse:
    resp = v1alpha1.NodeWatchResourcesResponse()
    for d in devices:
        resp.devices.add(
            device=v1alpha1.DeviceIdentifier(pool_name=d.pool, device_name=d.device),
            health=v1alpha1.HealthStatus.Value(d.health.name),
            last_updated_time=now,
            health_check_timeout_seconds=d.timeout_seconds,
            message=truncate(d.message),
        )
    return resp


def device_health(msg: v1.DeviceHealth | v1alpha1.DeviceHealth) -> DeviceHealth:
    """Wire -> value (for the test client)."""
    return DeviceHealth(
        pool=PoolName(msg.device.pool_name),
        device=DeviceName(msg.device.device_name),
        health=Health(msg.health),
        message=msg.message,
        timeout_seconds=msg.health_check_timeout_seconds,
    )


class HealthService:
    """Serves both health API versions from one board; :meth:`close` ends every open stream."""

    def __init__(
        self, board: HealthBoard, *, resend_seconds: float, clock: Clock = time.time
    ) -> None:
        self._board = board
        self._resend = resend_seconds
        self._clock = clock
        self._closing = asyncio.Event()

    def close(self) -> None:
        """Let open streams finish with OK (instead of being cancelled at the end of the grace
        period); the kubelet reopens the stream on whichever instance is registered."""
        self._closing.set()

    async def watch_v1(
        self, request: v1.NodeWatchResourcesRequest, context: Context
    ) -> AsyncGenerator[v1.NodeWatchResourcesResponse, None]:
        async with aclosing(self._snapshots("v1")) as snapshots:
            async for devices, now in snapshots:
                yield response_v1(devices, now)

    async def watch_v1alpha1(
        self, request: v1alpha1.NodeWatchResourcesRequest, context: Context
    ) -> AsyncGenerator[v1alpha1.NodeWatchResourcesResponse, None]:
        async with aclosing(self._snapshots("v1alpha1")) as snapshots:
            async for devices, now in snapshots:
                yield response_v1alpha1(devices, now)

    async def _snapshots(
        self, version: HealthVersion
    ) -> AsyncGenerator[tuple[tuple[DeviceHealth, ...], int], None]:
        """The full list now, then after each change or resend period, until closed."""
        logger.info("health stream opened", extra={"api_version": version})
        sent = 0
        try:
            while not self._closing.is_set():
                # Version and snapshot are read without an await in between: consistent.
                seen = self._board.version
                yield self._board.snapshot(), int(self._clock())
                sent += 1
                await self._wait(seen)
        finally:
            logger.info("health stream ended", extra={"api_version": version, "messages": sent})

    async def _wait(self, seen: int) -> None:
        changed = asyncio.create_task(
            self._board.wait_changed(seen, self._resend), name="health-wait-changed"
        )
        closing = asyncio.create_task(self._closing.wait(), name="health-wait-closing")
        try:
            await asyncio.wait({changed, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (changed, closing):
                task.cancel()
            await asyncio.gather(changed, closing, return_exceptions=True)

    def generic_handlers(self) -> list[grpc.GenericRpcHandler]:
        return [
            grpc.method_handlers_generic_handler(
                HEALTH_V1_SERVICE,
                {
                    WATCH_RESOURCES: grpc.unary_stream_rpc_method_handler(
                        self.watch_v1,
                        request_deserializer=v1.NodeWatchResourcesRequest.FromString,
                        response_serializer=v1.NodeWatchResourcesResponse.SerializeToString,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                HEALTH_V1ALPHA1_SERVICE,
                {
                    WATCH_RESOURCES: grpc.unary_stream_rpc_method_handler(
                        self.watch_v1alpha1,
                        request_deserializer=v1alpha1.NodeWatchResourcesRequest.FromString,
                        response_serializer=v1alpha1.NodeWatchResourcesResponse.SerializeToString,
                    )
                },
            ),
        ]
