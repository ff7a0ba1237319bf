"""What the slice reconciler needs from a cluster store (the API server or the dir store).

Errors are :mod:`drafast.k8s.errors` classes, the same for every implementation: ``drafast.k8s``
sits below this package, so its implementations (``KubeSlices``, ``DirSlices``) match this
protocol structurally and raise those classes, and fakes in tests raise them too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from drafast.types import JSON, NodeName


class SliceAPI(Protocol):
    """ResourceSlice access (``resource.k8s.io/v1``), raw JSON in and out.

    Every method may raise :class:`drafast.k8s.errors.ApiError`: :class:`ConflictError` (409:
    stale resourceVersion, failed delete precondition, name taken), :class:`NotFoundError` (the
    object is gone), :class:`GoneError` (the watch's resourceVersion is too old: list again).
    Anything else is treated as transient.
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
