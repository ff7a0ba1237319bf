"""What the slice reconciler needs from the API server, and how it reads API errors.

``drafast.k8s`` sits below ``drafast.publish`` and cannot import this module, so errors are
classified by their HTTP status (a ``status`` attribute, as on ``kubernetes`` client exceptions)
rather than by class; :class:`ApiStatusError` exists for fakes and adapters that want a class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from drafast.errors import RecoverableError
from drafast.types import JSON, NodeName

CONFLICT = 409
GONE = 410
NOT_FOUND = 404


class SliceAPI(Protocol):
    """ResourceSlice access (``resource.k8s.io/v1``), raw JSON in and out.

    Every method may raise; an exception whose ``status`` is 409 means a conflict (stale
    resourceVersion, failed delete precondition, name taken), 404 means the object is gone, 410
    means the watch's resourceVersion is too old. Anything else is treated as transient.
    """

    async def list_slices(self, field_selector: str) -> tuple[list[JSON], str]:
        """All matching slices and the list's resourceVersion."""
        ...

    def watch_slices(self, field_selector: str, resource_version: str) -> AsyncIterator[JSON]:
        """Events ``{"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": {...}}`` after
        ``resource_version``; the iterator may simply end (server timeout): the caller resumes.
        Written as ``def`` so that an ``async def ... yield`` generator satisfies it."""
        ...

    async def create_slice(self, body: JSON) -> JSON:
        """POST; ``metadata.generateName`` is set, the stored object is returned."""
        ...

    async def update_slice(self, body: JSON) -> JSON:
        """PUT with ``metadata.resourceVersion`` (409 when stale); the stored object is
        returned."""
        ...

    async def delete_slice(self, name: str, uid: str, resource_version: str) -> None:
        """DELETE with UID and resourceVersion preconditions (409 when they fail); a slice
        that is already gone is not an error."""
        ...


class ApiStatusError(RecoverableError):
    """An API call failed with an HTTP status (for fakes and adapters)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status


def http_status(err: BaseException) -> int | None:
    """The HTTP status carried by an API error, if any."""
    status = getattr(err, "status", None)
    return status if isinstance(status, int) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerRef:
    """The Node that owns node-local slices (garbage collection when the Node goes away)."""

    name: NodeName
    uid: str

    def reference(self) -> JSON:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
        }
