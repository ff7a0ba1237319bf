"""DRAPlugin v1 and v1beta1 services, both backed by one :class:`ClaimHandler`.

This is the gRPC edge: the only place where drafast exceptions become status codes. Per-claim
failures stay values (the ``error`` string of the claim's entry).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

from drafast.errors import (
    ClaimError,
    ClaimNotFoundError,
    ConfigError,
    DrafastError,
    PermanentError,
    RecoverableError,
)
from drafast.kubelet import convert
from drafast.kubelet.handler import ClaimHandler
from drafast.kubelet.methods import (
    DRA_V1_SERVICE,
    DRA_V1BETA1_SERVICE,
    PREPARE,
    UNPREPARE,
    DRAVersion,
)
from drafast.kubelet.proto.dra.v1 import api_pb2 as v1
from drafast.kubelet.proto.dra.v1beta1 import api_pb2 as v1beta1
from drafast.plugin.results import PrepareResult, UnprepareResult
from drafast.runtime import logctx
from drafast.types import ClaimRef

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
Operation = Literal["prepare", "unprepare"]


class _Outcome(Protocol):
    @property
    def error(self) -> str: ...


R = TypeVar("R", bound=_Outcome)


def status_for(err: Exception) -> grpc.StatusCode:
    """The status code for a call that failed as a whole."""
    if isinstance(err, ClaimNotFoundError):
        return grpc.StatusCode.NOT_FOUND  # what KEP-4381 asks for a missing claim
    if isinstance(err, RecoverableError):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(err, ClaimError | ConfigError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(err, PermanentError):
        return grpc.StatusCode.FAILED_PRECONDITION
    return grpc.StatusCode.INTERNAL


def failure_details(op: Operation, err: Exception) -> str:
    if isinstance(err, DrafastError):
        return f"{op} failed: {err}"
    return f"{op} failed: internal error in the plugin ({type(err).__name__}: {err})"


def complete(
    results: Mapping[str, R], refs: Iterable[ClaimRef], missing: Callable[[ClaimRef], R]
) -> dict[str, R]:
    """Add an error entry for every requested claim the backend did not answer: the kubelet
    would fail the batch anyway, but this way the error names the claim."""
    out = dict(results)
    for ref in refs:
        if ref.uid not in out:
            logger.error("no result for requested claim", extra={"claim": str(ref)})
            out[ref.uid] = missing(ref)
    return out


class Undecodable:
    """A request body that is not the message the method takes (answered INVALID_ARGUMENT)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _lenient(cls: Any) -> Callable[[bytes], Any]:
    """A deserializer that hands a decode failure to the handler, which can say what it was;
    grpc would answer UNKNOWN (or INTERNAL) for an exception raised here."""

    def decode(raw: bytes) -> Any:
        try:
            return cls.FromString(raw)
        except DecodeError as err:
            return Undecodable(f"request body is not a {cls.__name__}: {err}")

    return decode


async def _claims(request: Any, context: Context) -> Iterable[convert.WireClaim]:
    if isinstance(request, Undecodable):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
    claims: Iterable[convert.WireClaim] = request.claims
    return claims


class DRAService:
    """The DRAPlugin servicer (both API versions); stateless apart from the backend."""

    def __init__(self, handler: ClaimHandler) -> None:
        self._handler = handler

    async def prepare_v1(
        self, request: v1.NodePrepareResourcesRequest | Undecodable, context: Context
    ) -> v1.NodePrepareResourcesResponse:
        results = await self._prepare("v1", await _claims(request, context), context)
        return convert.prepare_response_v1(results)

    async def prepare_v1beta1(
        self, request: v1beta1.NodePrepareResourcesRequest | Undecodable, context: Context
    ) -> v1beta1.NodePrepareResourcesResponse:
        results = await self._prepare("v1beta1", await _claims(request, context), context)
        return convert.prepare_response_v1beta1(results)

    async def unprepare_v1(
        self, request: v1.NodeUnprepareResourcesRequest | Undecodable, context: Context
    ) -> v1.NodeUnprepareResourcesResponse:
        results = await self._unprepare("v1", await _claims(request, context), context)
        return convert.unprepare_response_v1(results)

    async def unprepare_v1beta1(
        self, request: v1beta1.NodeUnprepareResourcesRequest | Undecodable, context: Context
    ) -> v1beta1.NodeUnprepareResourcesResponse:
        results = await self._unprepare("v1beta1", await _claims(request, context), context)
        return convert.unprepare_response_v1beta1(results)

    async def _prepare(
        self, version: DRAVersion, claims: Iterable[convert.WireClaim], context: Context
    ) -> dict[str, PrepareResult]:
        return await _call(
            "prepare",
            version,
            convert.claim_refs(claims),
            context,
            run=self._handler.prepare,
            missing=lambda ref: PrepareResult(error=f"{ref}: the plugin returned no result"),
        )

    async def _unprepare(
        self, version: DRAVersion, claims: Iterable[convert.WireClaim], context: Context
    ) -> dict[str, UnprepareResult]:
        return await _call(
            "unprepare",
            version,
            convert.claim_refs(claims),
            context,
            run=self._handler.unprepare,
            missing=lambda ref: UnprepareResult(error=f"{ref}: the plugin returned no result"),
        )

    def generic_handlers(self, *, serve_v1beta1: bool) -> list[grpc.GenericRpcHandler]:
        handlers = [
            grpc.method_handlers_generic_handler(
                DRA_V1_SERVICE,
                {
                    PREPARE: grpc.unary_unary_rpc_method_handler(
                        self.prepare_v1,
                        request_deserializer=_lenient(v1.NodePrepareResourcesRequest),
                        response_serializer=v1.NodePrepareResourcesResponse.SerializeToString,
                    ),
                    UNPREPARE: grpc.unary_unary_rpc_method_handler(
                        self.unprepare_v1,
                        request_deserializer=_lenient(v1.NodeUnprepareResourcesRequest),
                        response_serializer=v1.NodeUnprepareResourcesResponse.SerializeToString,
                    ),
                },
            )
        ]
        if serve_v1beta1:
            handlers.append(
                grpc.method_handlers_generic_handler(
                    DRA_V1BETA1_SERVICE,
                    {
                        PREPARE: grpc.unary_unary_rpc_method_handler(
                            self.prepare_v1beta1,
                            request_deserializer=_lenient(v1beta1.NodePrepareResourcesRequest),
                            response_serializer=(
                                v1beta1.NodePrepareResourcesResponse.SerializeToString
                            ),
                        ),
                        UNPREPARE: grpc.unary_unary_rpc_method_handler(
                            self.unprepare_v1beta1,
                            request_deserializer=_lenient(v1beta1.NodeUnprepareResourcesRequest),
                            response_serializer=(
                                v1beta1.NodeUnprepareResourcesResponse.SerializeToString
                            ),
                        ),
                    },
                )
            )
        return handlers


async def _call(
    op: Operation,
    version: DRAVersion,
    refs: Sequence[ClaimRef],
    context: Context,
    *,
    run: Callable[[Sequence[ClaimRef]], Awaitable[Mapping[str, R]]],
    missing: Callable[[ClaimRef], R],
) -> dict[str, R]:
    """Run one backend call with a request ID, timing, logging and status-code mapping."""
    fields: dict[str, object] = {
        # Not secrets.token_hex: getrandom() costs ~130 us per call on this kind of VM, and a
        # log correlation ID needs no cryptographic randomness.
        "request_id": f"{random.getrandbits(32):08x}",
        "operation": op,
        "api_version": version,
        "claims": len(refs),
    }
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("kubelet call started", extra={**fields, "claim_refs": [str(r) for r in refs]})
    started = time.perf_counter()
    token = logctx.request_id.set(str(fields["request_id"]))
    try:
        raw = await run(refs)
    except asyncio.CancelledError:
        # The kubelet gave up (45 s deadline) or the server is stopping; it will call again.
        logger.warning("kubelet call cancelled", extra=_done(fields, started))
        raise
    except Exception as err:
        code = status_for(err)
        extra = {**_done(fields, started), "code": code.name, "error": str(err)}
        if code is grpc.StatusCode.INTERNAL:
            logger.exception("kubelet call failed unexpectedly", extra=extra)
        else:
            logger.warning("kubelet call failed", extra=extra)
        await context.abort(code, failure_details(op, err))
    finally:
        logctx.request_id.reset(token)
    results = complete(raw, refs, missing)
    failed = {uid: r.error for uid, r in results.items() if r.error}
    for uid, error in failed.items():
        logger.warning("claim failed", extra={**fields, "claim_uid": uid, "error": error})
    if logger.isEnabledFor(logging.INFO):
        logger.info("kubelet call done", extra={**_done(fields, started), "failed": len(failed)})
    return results


def _done(fields: Mapping[str, object], started: float) -> dict[str, object]:
    return {**fields, "duration_ms": round((time.perf_counter() - started) * 1000, 3)}
