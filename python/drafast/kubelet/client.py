"""A kubelet stand-in: registers a plugin and calls it over its real sockets.

Used by the ``drafast kubelet ...`` CLI (offline mode) and by :mod:`drafast.testing`. It behaves
like the kubelet where that matters to a plugin: the registration flow and version choice, the
call deadlines (1 s GetInfo, 5 s notify, 45 s DRA calls) and ``unix:`` targets. Failed calls
raise :class:`KubeletCallError`; results are plain drafast values keyed by claim UID.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from drafast.errors import ConfigError, DrafastError, PermanentError
from drafast.kubelet import convert
from drafast.kubelet.health import device_health
from drafast.kubelet.methods import (
    DRA_LABELS,
    DRA_V1_PREPARE,
    DRA_V1_UNPREPARE,
    DRA_V1BETA1_PREPARE,
    DRA_V1BETA1_UNPREPARE,
    HEALTH_V1_WATCH,
    HEALTH_V1ALPHA1_WATCH,
    PLUGIN_TYPE,
    REGISTRATION_GET_INFO,
    REGISTRATION_NOTIFY,
    DRAVersion,
    HealthVersion,
)
from drafast.kubelet.proto.dra.v1 import api_pb2 as dra_v1
from drafast.kubelet.proto.dra.v1beta1 import api_pb2 as dra_v1beta1
from drafast.kubelet.proto.health.v1 import api_pb2 as health_v1
from drafast.kubelet.proto.health.v1alpha1 import api_pb2 as health_v1alpha1
from drafast.kubelet.proto.pluginregistration import api_pb2 as reg
from drafast.plugin.results import PrepareResult, UnprepareResult
from drafast.types import ClaimRef, DeviceHealth

T = TypeVar("T")
_HealthResponse = health_v1.NodeWatchResourcesResponse | health_v1alpha1.NodeWatchResourcesResponse

GET_INFO_TIMEOUT = 1.0
NOTIFY_TIMEOUT = 5.0
DRA_CALL_TIMEOUT = 45.0


class KubeletCallError(DrafastError):
    """A gRPC call to the plugin failed; ``code`` is the status code name, e.g. ``INTERNAL``."""

    def __init__(self, method: str, code: str, details: str) -> None:
        super().__init__(f"{method}: {code}: {details}")
        self.method = method
        self.code = code
        self.details = details


class RegistrationError(PermanentError):
    """The plugin's info is not acceptable to a kubelet (wrong type, no known DRA version)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginInfo:
    type: str
    name: str
    endpoint: str
    supported_versions: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered:
    """Outcome of :meth:`KubeletClient.register`."""

    info: PluginInfo
    version: DRAVersion
    endpoint: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportedHealth:
    """One device of a health message, with the plugin's ``last_updated_time`` (unix s)."""

    health: DeviceHealth
    last_updated_time: int


def choose_version(info: PluginInfo) -> DRAVersion:
    """The kubelet's rule: walk the *plugin's* list, take the first DRAPlugin label it knows."""
    if info.type != PLUGIN_TYPE:
        raise RegistrationError(f"plugin {info.name!r} has type {info.type!r}, not {PLUGIN_TYPE}")
    for label in info.supported_versions:
        if label in DRA_LABELS:
            return DRA_LABELS[label]
    raise RegistrationError(
        f"none of the services supported by plugin {info.name!r}"
        f" {list(info.supported_versions)} are supported by the kubelet {list(DRA_LABELS)}"
    )


def _encode(message: Message) -> bytes:
    return message.SerializeToString()


def _target(path: Path) -> str:
    # "unix:<abs path>" like the kubelet; grpc rejects "unix://" targets of 106 or 107 bytes.
    return f"unix:{path.absolute()}"


def _call_error(method: str, err: grpc.aio.AioRpcError) -> KubeletCallError:
    return KubeletCallError(method, err.code().name, err.details() or "")


class KubeletClient:
    """Talks to one plugin instance. Give the registration socket, the DRA socket, or both;
    :meth:`register` learns the DRA socket (and API version) from the plugin itself."""

    def __init__(
        self,
        *,
        registration_socket: Path | None = None,
        dra_socket: Path | None = None,
        call_timeout: float = DRA_CALL_TIMEOUT,
    ) -> None:
        self._registration_socket = registration_socket
        self._dra_socket = dra_socket
        self._call_timeout = call_timeout
        self._version: DRAVersion = "v1"
        self._reg_channel: grpc.aio.Channel | None = None
        self._dra_channel: grpc.aio.Channel | None = None
        # method -> (channel, its multicallable): built once per channel, not once per call.
        self._calls: dict[str, tuple[grpc.aio.Channel, Any]] = {}

    @property
    def version(self) -> DRAVersion:
        """The DRAPlugin version used when a call does not name one (set by :meth:`register`)."""
        return self._version

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        for channel in (self._reg_channel, self._dra_channel):
            if channel is not None:
                await channel.close()
        self._reg_channel = self._dra_channel = None
        self._calls.clear()

    def _registration(self) -> grpc.aio.Channel:
        if self._reg_channel is None:
            if self._registration_socket is None:
                raise ConfigError("no registration socket given")
            self._reg_channel = grpc.aio.insecure_channel(_target(self._registration_socket))
        return self._reg_channel

    def _dra(self) -> grpc.aio.Channel:
        if self._dra_channel is None:
            if self._dra_socket is None:
                raise ConfigError("no DRA socket given and none learnt from registration")
            self._dra_channel = grpc.aio.insecure_channel(_target(self._dra_socket))
        return self._dra_channel

    async def _unary(
        self,
        channel: grpc.aio.Channel,
        method: str,
        request: Message,
        decode: Callable[[bytes], T],
        deadline_s: float,
        *,
        wait_for_ready: bool | None = None,
    ) -> T:
        cached = self._calls.get(method)
        if cached is None or cached[0] is not channel:
            call = channel.unary_unary(
                method, request_serializer=_encode, response_deserializer=decode
            )
            self._calls[method] = (channel, call)
        else:
            call = cached[1]
        try:
            return await call(request, timeout=deadline_s, wait_for_ready=wait_for_ready)
        except grpc.aio.AioRpcError as err:
            raise _call_error(method, err) from err

    # ------------------------------------------------------------------ registration

    async def get_info(self) -> PluginInfo:
        # wait_for_ready: the kubelet also dials blocking before its 1 s GetInfo.
        info = await self._unary(
            self._registration(),
            REGISTRATION_GET_INFO,
            reg.InfoRequest(),
            reg.PluginInfo.FromString,
            GET_INFO_TIMEOUT,
            wait_for_ready=True,
        )
        return PluginInfo(
            type=info.type,
            name=info.name,
            endpoint=info.endpoint,
            supported_versions=tuple(info.supported_versions),
        )

    async def notify(self, registered: bool, error: str = "") -> None:
        await self._unary(
            self._registration(),
            REGISTRATION_NOTIFY,
            reg.RegistrationStatus(plugin_registered=registered, error=error),
            reg.RegistrationStatusResponse.FromString,
            NOTIFY_TIMEOUT,
        )

    async def register(self) -> Registered:
        """The kubelet's flow: GetInfo, validate, pick the version, NotifyRegistrationStatus.

        On a validation failure the plugin is told (``plugin_registered=false``) and
        :class:`RegistrationError` is raised. Afterwards DRA calls go to the advertised endpoint
        (the registration socket itself if the endpoint is empty, as in the kubelet).
        """
        reg_socket = self._registration_socket
        if reg_socket is None:
            raise ConfigError("no registration socket given")
        info = await self.get_info()
        try:
            version = choose_version(info)
        except RegistrationError as err:
            # The plugin answers a failed registration with an error; ours is the one to raise.
            with contextlib.suppress(KubeletCallError):
                await self.notify(False, str(err))
            raise
        await self.notify(True)
        endpoint = Path(info.endpoint) if info.endpoint else reg_socket
        if endpoint != self._dra_socket and self._dra_channel is not None:
            await self._dra_channel.close()
            self._dra_channel = None
        self._dra_socket = endpoint
        self._version = version
        return Registered(info=info, version=version, endpoint=endpoint)

    # ------------------------------------------------------------------ DRAPlugin

    async def prepare(
        self, claims: Sequence[ClaimRef], version: DRAVersion | None = None
    ) -> dict[str, PrepareResult]:
        resp: convert.PrepareResponse
        if (version or self._version) == "v1":
            resp = await self._unary(
                self._dra(),
                DRA_V1_PREPARE,
                dra_v1.NodePrepareResourcesRequest(claims=convert.wire_claims_v1(claims)),
                dra_v1.NodePrepareResourcesResponse.FromString,
                self._call_timeout,
            )
        else:
            resp = await self._unary(
                self._dra(),
                DRA_V1BETA1_PREPARE,
                dra_v1beta1.NodePrepareResourcesRequest(claims=convert.wire_claims_v1beta1(claims)),
                dra_v1beta1.NodePrepareResourcesResponse.FromString,
                self._call_timeout,
            )
        return convert.prepare_results(resp)

    async def unprepare(
        self, claims: Sequence[ClaimRef], version: DRAVersion | None = None
    ) -> dict[str, UnprepareResult]:
        resp: convert.UnprepareResponse
        if (version or self._version) == "v1":
            resp = await self._unary(
                self._dra(),
                DRA_V1_UNPREPARE,
                dra_v1.NodeUnprepareResourcesRequest(claims=convert.wire_claims_v1(claims)),
                dra_v1.NodeUnprepareResourcesResponse.FromString,
                self._call_timeout,
            )
        else:
            resp = await self._unary(
                self._dra(),
                DRA_V1BETA1_UNPREPARE,
                dra_v1beta1.NodeUnprepareResourcesRequest(
                    claims=convert.wire_claims_v1beta1(claims)
                ),
                dra_v1beta1.NodeUnprepareResourcesResponse.FromString,
                self._call_timeout,
            )
        return convert.unprepare_results(resp)

    # ------------------------------------------------------------------ health

    async def watch_health(
        self, version: HealthVersion = "v1"
    ) -> AsyncGenerator[tuple[ReportedHealth, ...], None]:
        """Each message of the stream (the plugin's complete device list), until it ends.
        Closing the generator cancels the stream."""
        request: Message
        decode: Callable[[bytes], _HealthResponse]
        if version == "v1":
            method, request = HEALTH_V1_WATCH, health_v1.NodeWatchResourcesRequest()
            decode = health_v1.NodeWatchResourcesResponse.FromString
        else:
            method, request = HEALTH_V1ALPHA1_WATCH, health_v1alpha1.NodeWatchResourcesRequest()
            decode = health_v1alpha1.NodeWatchResourcesResponse.FromString
        watch: grpc.aio.UnaryStreamMultiCallable[Message, _HealthResponse]
        watch = self._dra().unary_stream(
            method, request_serializer=_encode, response_deserializer=decode
        )
        call = watch(request)
        try:
            async for msg in call:
                yield tuple(
                    ReportedHealth(health=device_health(d), last_updated_time=d.last_updated_time)
                    for d in msg.devices
                )
        except grpc.aio.AioRpcError as err:
            raise _call_error(method, err) from err
        finally:
            call.cancel()
