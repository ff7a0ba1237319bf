"""Errors of API requests, as part of drafast's one error tree.

Every failed request surfaces as an :class:`ApiError`; its class says what a caller should do:

* :class:`ConflictError` (409): re-read the object and retry the change;
* :class:`GoneError` (410): the resourceVersion is too old -- re-list, then watch again;
* :class:`ApiUnavailableError` (429, 5xx, no response, after the retry budget): try again later;
* :class:`NotFoundError` (404) and other :class:`ApiRequestError` (4xx): the request is wrong.
"""

from __future__ import annotations

from drafast.errors import DrafastError, PermanentError, RecoverableError
from drafast.k8s.paths import ObjectRef
from drafast.types import JSON


class ApiError(DrafastError):
    """A request to the API server failed.

    ``status`` is the HTTP status (None: no response at all), ``reason`` the API server's
    machine-readable reason (``Conflict``, ``NotFound``, ...) or the transport error's name, and
    ``api_message`` the API server's human-readable ``message``.
    """

    def __init__(
        self,
        *,
        verb: str,
        target: ObjectRef,
        status: int | None,
        reason: str,
        api_message: str,
        attempts: int = 1,
    ) -> None:
        self.verb = verb
        self.target = target
        self.status = status
        self.reason = reason
        self.api_message = api_message
        self.attempts = attempts
        http = f"HTTP {status} {reason}" if status is not None else f"no response ({reason})"
        tries = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{target}: {verb} failed: {http}: {api_message}{tries}")


class ApiUnavailableError(ApiError, RecoverableError):
    """The API server is overloaded, failing or unreachable; the same request may work later."""


class ConflictError(ApiError, RecoverableError):
    """409: the object changed since it was read (or a precondition failed): re-read and retry."""


class AlreadyExistsError(ConflictError):
    """409 AlreadyExists: a create found an object with that name."""


class GoneError(ApiError, RecoverableError):
    """410: the resourceVersion is too old (compacted); re-list and watch from the new version."""


class ApiRequestError(ApiError, PermanentError):
    """The request itself is wrong (invalid object, forbidden, bad TLS setup): do not retry it."""


class NotFoundError(ApiRequestError):
    """404: the object (or its namespace) does not exist."""


def api_error(
    *,
    verb: str,
    target: ObjectRef,
    status: int | None,
    reason: str,
    api_message: str,
    attempts: int = 1,
) -> ApiError:
    """The right :class:`ApiError` subclass for a failed response (or no response)."""
    cls: type[ApiError]
    if status is None or status == 429 or status >= 500:
        cls = ApiUnavailableError
    elif status == 409:
        cls = AlreadyExistsError if reason == "AlreadyExists" else ConflictError
    elif status == 410:
        cls = GoneError
    elif status == 404:
        cls = NotFoundError
    else:
        cls = ApiRequestError
    return cls(
        verb=verb,
        target=target,
        status=status,
        reason=reason,
        api_message=api_message,
        attempts=attempts,
    )


def watch_error(status: JSON, target: ObjectRef) -> ApiError:
    """The error of a watch ``ERROR`` event, which carries a ``Status`` object: 410 (too old
    resourceVersion) becomes :class:`GoneError`."""
    code = status.get("code")
    return api_error(
        verb="watch",
        target=target,
        status=code if isinstance(code, int) else 500,
        reason=str(status.get("reason") or "Error"),
        api_message=str(status.get("message") or ""),
    )
