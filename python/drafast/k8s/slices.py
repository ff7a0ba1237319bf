"""ResourceSlices through :class:`KubeAPI`: the ``SliceAPI`` the publisher's reconciler needs
(``drafast.publish.sliceapi.SliceAPI``, matched structurally: this layer cannot import it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from drafast.k8s.api import KubeAPI
from drafast.k8s.errors import NotFoundError
from drafast.k8s.paths import slice_path
from drafast.types import JSON


class KubeSlices:
    def __init__(self, api: KubeAPI) -> None:
        self.api = api

    async def list_slices(self, field_selector: str) -> tuple[list[JSON], str]:
        result = await self.api.list(slice_path(), field_selector=field_selector)
        return list(result.get("items") or []), str(result["metadata"].get("resourceVersion", ""))

    def watch_slices(self, field_selector: str, resource_version: str) -> AsyncIterator[JSON]:
        return self.api.watch(
            slice_path(),
            resource_version=resource_version,
            field_selector=field_selector,
            bookmarks=True,  # keeps the resume point current on a quiet watch
        )

    async def create_slice(self, body: JSON) -> JSON:
        return await self.api.create(slice_path(), body)

    async def update_slice(self, body: JSON) -> JSON:
        return await self.api.update(slice_path(body["metadata"]["name"]), body)

    async def delete_slice(self, name: str, uid: str, resource_version: str) -> None:
        with contextlib.suppress(NotFoundError):  # already gone: that is what we wanted
            await self.api.delete(
                slice_path(name), preconditions={"uid": uid, "resourceVersion": resource_version}
            )
