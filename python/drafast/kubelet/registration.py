"""The plugin registration service the kubelet's plugin watcher talks to.

The kubelet finds our registration socket, asks ``GetInfo`` (1 s deadline) for the driver name,
the DRA socket and the services we serve, then reports the outcome with
``NotifyRegistrationStatus``. A failure there means the kubelet will retry the whole sequence.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from drafast.errors import SocketError
from drafast.kubelet.methods import (
    GET_INFO,
    NOTIFY_REGISTRATION_STATUS,
    PLUGIN_TYPE,
    REGISTRATION_SERVICE,
)
from drafast.kubelet.proto.pluginregistration import api_pb2 as pb

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]


class RegistrationState:
    """What the kubelet last told us; the app waits on :attr:`registered_event` for readiness."""

    def __init__(self) -> None:
        self.registered = False
        self.last_error = ""
        self.notifications = 0
        self.registered_event = asyncio.Event()
        """Set while registered: cleared again when the kubelet reports a failure."""

    def record(self, *, registered: bool, error: str) -> None:
        self.registered = registered
        self.last_error = error
        self.notifications += 1
        if registered:
            self.registered_event.set()
        else:
            self.registered_event.clear()


class RegistrationService:
    """Answers ``GetInfo`` with fixed facts and records ``NotifyRegistrationStatus``."""

    def __init__(
        self,
        *,
        driver_name: str,
        endpoint: Path,
        supported_versions: list[str],
        state: RegistrationState,
    ) -> None:
        if not endpoint.is_absolute():
            raise SocketError(f"DRA endpoint {endpoint} must be an absolute path")
        self._info = pb.PluginInfo(
            type=PLUGIN_TYPE,
            name=driver_name,
            endpoint=str(endpoint),
            supported_versions=supported_versions,
        )
        self._state = state

    @property
    def info(self) -> pb.PluginInfo:
        return self._info

    async def get_info(self, request: pb.InfoRequest, context: Context) -> pb.PluginInfo:
        logger.info(
            "kubelet asked for plugin info",
            extra={
                "driver": self._info.name,
                "endpoint": self._info.endpoint,
                "supported_versions": list(self._info.supported_versions),
            },
        )
        return self._info

    async def notify_registration_status(
        self, request: pb.RegistrationStatus, context: Context
    ) -> pb.RegistrationStatusResponse:
        self._state.record(registered=request.plugin_registered, error=request.error)
        if request.plugin_registered:
            logger.info("registered with the kubelet", extra={"driver": self._info.name})
            return pb.RegistrationStatusResponse()
        logger.error(
            "kubelet registration failed", extra={"driver": self._info.name, "error": request.error}
        )
        # Like the Go helper: a failed registration answers with an error (code UNKNOWN there).
        await context.abort(
            grpc.StatusCode.UNKNOWN, f"failed registration process: {request.error}"
        )

    def generic_handlers(self) -> list[grpc.GenericRpcHandler]:
        return [
            grpc.method_handlers_generic_handler(
                REGISTRATION_SERVICE,
                {
                    GET_INFO: grpc.unary_unary_rpc_method_handler(
                        self.get_info,
                        request_deserializer=pb.InfoRequest.FromString,
                        response_serializer=pb.PluginInfo.SerializeToString,
                    ),
                    NOTIFY_REGISTRATION_STATUS: grpc.unary_unary_rpc_method_handler(
                        self.notify_registration_status,
                        request_deserializer=pb.RegistrationStatus.FromString,
                        response_serializer=pb.RegistrationStatusResponse.SerializeToString,
                    ),
                },
            )
        ]
