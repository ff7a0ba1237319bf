"""One failed API request attempt, and how a response or a transport error becomes one.

:class:`Failure` never leaves :mod:`drafast.k8s`: the retry loop in :mod:`drafast.k8s.api`
decides what it means and :meth:`Failure.error` turns it into the :class:`ApiError` callers see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import orjson

from drafast.errors import DrafastError
from drafast.k8s.errors import ApiError, ApiRequestError, api_error
from drafast.k8s.http1wire import ConnectError, InvalidURL, TLSError
from drafast.k8s.paths import ObjectRef
from drafast.k8s.retry import parse_retry_after
from drafast.types import JSON

if TYPE_CHECKING:
    from drafast.k8s.http1wire import Response

ALWAYS_RETRIED: Final = frozenset({429, 503})
"""The server refused the request: safe to repeat for every verb."""


class Failure(DrafastError):
    """One failed attempt, before the retry loop decides what it means."""

    def __init__(
        self,
        status: int | None,
        reason: str,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        permanent: bool = False,
        reauth: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.permanent = permanent
        self.reauth = reauth

    def error(self, verb: str, target: ObjectRef, attempts: int) -> ApiError:
        if self.permanent:  # no response, but retrying cannot help (TLS setup, bad URL)
            return ApiRequestError(
                verb=verb,
                target=target,
                status=None,
                reason=self.reason,
                api_message=self.message,
                attempts=attempts,
            )
        return api_error(
            verb=verb,
            target=target,
            status=self.status,
            reason=self.reason,
            api_message=self.message,
            attempts=attempts,
        )


def decode_body(raw: bytes) -> JSON:
    if not raw:
        return {}
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise Failure(
            None, "NotJSON", f"response is not JSON: {err}", retryable=False, permanent=True
        ) from err
    if not isinstance(obj, dict):
        raise Failure(
            None, "NotJSON", "response is not a JSON object", retryable=False, permanent=True
        )
    return obj


def status_failure(resp: Response, raw: bytes, *, idempotent: bool) -> Failure:
    """A failure from an error response; the API server's ``Status`` says reason and message."""
    reason, message = resp.reason or "", raw[:512].decode("utf-8", "replace").strip()
    try:
        status_obj = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        status_obj = None
    if isinstance(status_obj, dict) and status_obj.get("kind") == "Status":
        reason = str(status_obj.get("reason") or reason)
        message = str(status_obj.get("message") or message)
    code = resp.status
    retryable = code in ALWAYS_RETRIED or (code >= 500 and idempotent)
    retry_after = parse_retry_after(resp.headers.get("retry-after")) if retryable else None
    return Failure(code, reason, message, retryable=retryable, retry_after=retry_after)


def transport_failure(err: BaseException, *, idempotent: bool) -> Failure:
    reason = type(err).__name__
    message = str(err) or ("timed out" if isinstance(err, TimeoutError) else reason)
    if isinstance(err, TLSError | InvalidURL):
        return Failure(None, reason, message, retryable=False, permanent=True)
    # A failed connect sent nothing: safe to repeat whatever the verb.
    retryable = idempotent or isinstance(err, ConnectError)
    return Failure(None, reason, message, retryable=retryable)
