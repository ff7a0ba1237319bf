"""DRAPlugin servicer: backend calls, missing entries, status-code mapping, logging."""

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, NoReturn

import grpc
import pytest

from drafast.errors import (
    CDIError,
    CheckpointError,
    ClaimError,
    ClaimNotFoundError,
    ConfigError,
    DeviceError,
    RecoverableError,
)
from drafast.kubelet import methods
from drafast.kubelet.dra import DRAService, status_for
from drafast.kubelet.proto.dra.v1 import api_pb2 as v1
from drafast.kubelet.proto.dra.v1beta1 import api_pb2 as v1beta1
from drafast.plugin.results import DeviceResult, PrepareResult, UnprepareResult
from drafast.types import ClaimRef, ClaimUID, DeviceName, PoolName, RequestName


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details


class FakeContext:
    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise Aborted(code, details)


class FakeHandler:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, list[ClaimRef]]] = []

    async def prepare(self, claims: Sequence[ClaimRef]) -> Mapping[str, PrepareResult]:
        self.calls.append(("prepare", list(claims)))
        if self.error:
            raise self.error
        out: dict[str, PrepareResult] = {}
        for ref in claims:
            if ref.uid == "skip":
                continue  # a buggy backend: no entry
            if ref.name == "bad":
                out[ref.uid] = PrepareResult(error=f"{ref}: bad")
                continue
            dev = DeviceResult(
                request_names=(RequestName("r"),),
                pool=PoolName("p"),
                device=DeviceName(ref.name),
                cdi_device_ids=(f"x.io/c={ref.uid}",),
                share_id="s1",
            )
            out[ref.uid] = PrepareResult(devices=(dev,))
        return out

    async def unprepare(self, claims: Sequence[ClaimRef]) -> Mapping[str, UnprepareResult]:
        self.calls.append(("unprepare", list(claims)))
        if self.error:
            raise self.error
        return {ref.uid: UnprepareResult() for ref in claims if ref.uid != "skip"}


def ctx() -> Any:
    return FakeContext()


def prepare_v1(*claims: tuple[str, str, str]) -> v1.NodePrepareResourcesRequest:
    return v1.NodePrepareResourcesRequest(
        claims=[v1.Claim(namespace=ns, name=name, uid=uid) for ns, name, uid in claims]
    )


@pytest.mark.parametrize(
    ("err", "code"),
    [
        (RecoverableError("x"), grpc.StatusCode.UNAVAILABLE),
        (ClaimNotFoundError("x"), grpc.StatusCode.NOT_FOUND),
        (ClaimError("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (ConfigError("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (DeviceError("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (CheckpointError("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (CDIError("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (ValueError("x"), grpc.StatusCode.INTERNAL),
        (KeyError("x"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_for(err: Exception, code: grpc.StatusCode) -> None:
    assert status_for(err) is code


async def test_prepare_v1_passes_claims_and_builds_the_map() -> None:
    handler = FakeHandler()
    resp = await DRAService(handler).prepare_v1(
        prepare_v1(("ns", "a", "u1"), ("ns", "bad", "u2")), ctx()
    )
    assert handler.calls == [
        (
            "prepare",
            [
                ClaimRef(namespace="ns", name="a", uid=ClaimUID("u1")),
                ClaimRef(namespace="ns", name="bad", uid=ClaimUID("u2")),
            ],
        )
    ]
    assert set(resp.claims) == {"u1", "u2"}
    assert resp.claims["u1"].devices[0].device_name == "a"
    assert resp.claims["u1"].devices[0].share_id == "s1"
    assert resp.claims["u2"].error == "claim ns/bad (u2): bad"


async def test_prepare_v1beta1_has_no_share_id() -> None:
    req = v1beta1.NodePrepareResourcesRequest(
        claims=[v1beta1.Claim(namespace="ns", name="a", uid="u1")]
    )
    resp = await DRAService(FakeHandler()).prepare_v1beta1(req, ctx())
    assert isinstance(resp, v1beta1.NodePrepareResourcesResponse)
    assert resp.claims["u1"].devices[0].device_name == "a"


async def test_missing_entries_become_claim_errors() -> None:
    resp = await DRAService(FakeHandler()).prepare_v1(
        prepare_v1(("ns", "a", "u1"), ("ns", "lost", "skip")), ctx()
    )
    assert resp.claims["skip"].error == "claim ns/lost (skip): the plugin returned no result"
    assert resp.claims["u1"].error == ""
    unresp = await DRAService(FakeHandler()).unprepare_v1(
        v1.NodeUnprepareResourcesRequest(claims=[v1.Claim(namespace="ns", name="l", uid="skip")]),
        ctx(),
    )
    assert unresp.claims["skip"].error == "claim ns/l (skip): the plugin returned no result"


async def test_unprepare_both_versions() -> None:
    service = DRAService(FakeHandler())
    r1 = await service.unprepare_v1(
        v1.NodeUnprepareResourcesRequest(claims=[v1.Claim(namespace="ns", name="a", uid="u1")]),
        ctx(),
    )
    r2 = await service.unprepare_v1beta1(
        v1beta1.NodeUnprepareResourcesRequest(
            claims=[v1beta1.Claim(namespace="ns", name="a", uid="u1")]
        ),
        ctx(),
    )
    assert dict(r1.claims)["u1"].error == "" and "u1" in r2.claims


async def test_unexpected_exception_is_internal(caplog: pytest.LogCaptureFixture) -> None:
    service = DRAService(FakeHandler(ZeroDivisionError("division by zero")))
    with (
        caplog.at_level(logging.ERROR, logger="drafast.kubelet.dra"),
        pytest.raises(Aborted) as err,
    ):
        await service.prepare_v1(prepare_v1(("ns", "a", "u1")), ctx())
    assert err.value.code is grpc.StatusCode.INTERNAL
    assert "ZeroDivisionError: division by zero" in err.value.details
    assert err.value.details.startswith("prepare failed: internal error")
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert record.exc_info is not None  # traceback kept for the operator


async def test_drafast_errors_keep_their_message() -> None:
    service = DRAService(FakeHandler(RecoverableError("API server unreachable")))
    with pytest.raises(Aborted) as err:
        await service.unprepare_v1beta1(v1beta1.NodeUnprepareResourcesRequest(), ctx())
    assert err.value.code is grpc.StatusCode.UNAVAILABLE
    assert err.value.details == "unprepare failed: API server unreachable"


async def test_cancellation_propagates() -> None:
    service = DRAService(FakeHandler(asyncio.CancelledError()))
    with pytest.raises(asyncio.CancelledError):
        await service.prepare_v1(prepare_v1(("ns", "a", "u1")), ctx())


async def test_calls_are_logged_with_request_id_and_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = DRAService(FakeHandler())
    with caplog.at_level(logging.INFO, logger="drafast.kubelet.dra"):
        await service.prepare_v1(prepare_v1(("ns", "a", "u1"), ("ns", "bad", "u2")), ctx())
        await service.prepare_v1(prepare_v1(("ns", "a", "u1")), ctx())
    done = [r for r in caplog.records if r.getMessage() == "kubelet call done"]
    assert len(done) == 2
    ids = {r.request_id for r in done}  # type: ignore[attr-defined]
    assert len(ids) == 2
    first = done[0]
    assert first.operation == "prepare"  # type: ignore[attr-defined]
    assert first.api_version == "v1"  # type: ignore[attr-defined]
    assert first.claims == 2  # type: ignore[attr-defined]
    assert first.failed == 1  # type: ignore[attr-defined]
    assert first.duration_ms >= 0  # type: ignore[attr-defined]
    failed = [r for r in caplog.records if r.getMessage() == "claim failed"]
    assert [r.claim_uid for r in failed] == ["u2"]  # type: ignore[attr-defined]
    assert failed[0].request_id == first.request_id  # type: ignore[attr-defined]


class Details(NamedTuple):
    method: str
    invocation_metadata: tuple[Any, ...] = ()


def routes(handlers: list[grpc.GenericRpcHandler]) -> set[str]:
    paths = [
        methods.DRA_V1_PREPARE,
        methods.DRA_V1_UNPREPARE,
        methods.DRA_V1BETA1_PREPARE,
        methods.DRA_V1BETA1_UNPREPARE,
        "/v1.DRAPlugin/NodePrepareResources",  # the label is not a path
    ]
    return {p for p in paths if any(h.service(Details(p)) for h in handlers)}  # type: ignore[arg-type]


def test_generic_handlers_route_the_served_versions() -> None:
    service = DRAService(FakeHandler())
    assert routes(service.generic_handlers(serve_v1beta1=True)) == {
        methods.DRA_V1_PREPARE,
        methods.DRA_V1_UNPREPARE,
        methods.DRA_V1BETA1_PREPARE,
        methods.DRA_V1BETA1_UNPREPARE,
    }
    assert routes(service.generic_handlers(serve_v1beta1=False)) == {
        methods.DRA_V1_PREPARE,
        methods.DRA_V1_UNPREPARE,
    }
