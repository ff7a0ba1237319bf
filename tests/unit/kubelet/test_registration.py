"""Registration service: GetInfo contents and what NotifyRegistrationStatus records."""

from pathlib import Path
from typing import Any, NoReturn

import grpc
import pytest

from drafast.errors import SocketError
from drafast.kubelet.methods import supported_versions
from drafast.kubelet.proto.pluginregistration import api_pb2 as pb
from drafast.kubelet.registration import RegistrationService, RegistrationState


class Aborted(Exception):
    pass


class FakeContext:
    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise Aborted(code, details)


def service(tmp_path: Path, state: RegistrationState, **kw: Any) -> RegistrationService:
    return RegistrationService(
        driver_name="gpu.example.com",
        endpoint=tmp_path / "dra.sock",
        supported_versions=supported_versions(
            **({"serve_v1beta1": True, "serve_health": True} | kw)
        ),
        state=state,
    )


async def test_get_info(tmp_path: Path) -> None:
    info = await service(tmp_path, RegistrationState()).get_info(pb.InfoRequest(), FakeContext())  # type: ignore[arg-type]
    assert info.type == "DRAPlugin"
    assert info.name == "gpu.example.com"
    assert info.endpoint == str(tmp_path / "dra.sock")
    assert list(info.supported_versions) == [
        "v1.DRAPlugin",
        "v1beta1.DRAPlugin",
        "v1.DRAResourceHealth",
        "v1alpha1.DRAResourceHealth",
    ]


async def test_get_info_without_health_or_v1beta1(tmp_path: Path) -> None:
    svc = service(tmp_path, RegistrationState(), serve_v1beta1=False, serve_health=False)
    assert list(svc.info.supported_versions) == ["v1.DRAPlugin"]


def test_endpoint_must_be_absolute(tmp_path: Path) -> None:
    with pytest.raises(SocketError, match="absolute"):
        RegistrationService(
            driver_name="d",
            endpoint=Path("dra.sock"),
            supported_versions=[],
            state=RegistrationState(),
        )


async def test_notify_success_and_failure(tmp_path: Path) -> None:
    state = RegistrationState()
    svc = service(tmp_path, state)
    ctx: Any = FakeContext()
    assert not state.registered
    assert not state.registered_event.is_set()

    await svc.notify_registration_status(pb.RegistrationStatus(plugin_registered=True), ctx)
    assert state.registered
    assert state.registered_event.is_set()
    assert state.last_error == ""
    assert state.notifications == 1

    failure = pb.RegistrationStatus(plugin_registered=False, error="version mismatch")
    with pytest.raises(Aborted) as err:
        await svc.notify_registration_status(failure, ctx)
    assert err.value.args == (
        grpc.StatusCode.UNKNOWN,
        "failed registration process: version mismatch",
    )
    assert not state.registered
    assert not state.registered_event.is_set()
    assert state.last_error == "version mismatch"
    assert state.notifications == 2
