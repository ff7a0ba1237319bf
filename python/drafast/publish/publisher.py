"""Keeps a sink's ResourceSlices equal to what the driver discovers (offline directory sink;
the API-server reconciler with generations and owner references arrives with the kube mode)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from drafast.driver import ResourceSource
from drafast.publish.encode import encode_slices
from drafast.types import JSON, DriverResources

log = logging.getLogger(__name__)


class SliceSink(Protocol):
    async def apply(self, driver: str, owned_pools: set[str], slices: Sequence[JSON]) -> int: ...


class SlicePublisher:
    def __init__(self, source: ResourceSource, sink: SliceSink) -> None:
        self.source = source
        self.sink = sink
        self.last: DriverResources | None = None
        self.published = False

    async def sync(self) -> int:
        """Discover and publish; returns the number of writes (0 when nothing changed)."""
        resources = await self.source.discover()
        slices = encode_slices(self.source.name, resources)
        writes = await self.sink.apply(self.source.name, set(resources.pools), slices)
        self.last = resources
        self.published = True
        if writes:
            log.info("slices published", extra={"slices": len(slices), "writes": writes})
        return writes
