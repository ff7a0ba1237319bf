"""A list+watch cache of ResourceSlices for one field selector (a small informer).

Our own writes go into the cache at once (``record_write`` / ``record_delete``), and events
older than what we wrote are ignored: otherwise a lagging watch would show a slice we just
created as missing, or a slice we just deleted as present, and the next sync would create a
duplicate or update a ghost. resourceVersions are compared as integers when both parse (as the
Go mutation cache does); entries expire after ``ttl`` seconds so a clock or RV oddity cannot
pin a stale view forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from drafast.k8s.errors import GoneError, watch_error
from drafast.k8s.paths import ObjectRef, slice_path
from drafast.publish.sliceapi import SliceAPI
from drafast.runtime.backoff import Backoff
from drafast.types import JSON

log = logging.getLogger(__name__)


_SLICES = ObjectRef.from_path(slice_path())


@dataclass(slots=True)
class _Written:
    rv: int
    deleted: bool
    at: float


def _rv(obj: JSON) -> int | None:
    text = str(obj.get("metadata", {}).get("resourceVersion", ""))
    return int(text) if text.isdigit() else None


class SliceCache:
    """Slices matching ``field_selector`` (and ``accept``), kept current by :meth:`run`."""

    def __init__(
        self,
        api: SliceAPI,
        field_selector: str,
        *,
        accept: Callable[[JSON], bool],
        on_change: Callable[[], None],
        backoff: Backoff,
        clock: Callable[[], float],
        ttl: float = 60.0,
    ) -> None:
        self.api = api
        self.field_selector = field_selector
        self._accept = accept
        self._on_change = on_change
        self._backoff = backoff
        self._clock = clock
        self._ttl = ttl
        self._objects: dict[str, JSON] = {}
        self._written: dict[str, _Written] = {}
        self.resource_version = ""
        self.listed = False
        self.watching = False

    def objects(self) -> list[JSON]:
        return list(self._objects.values())

    async def relist(self) -> None:
        items, rv = await self.api.list_slices(self.field_selector)
        fresh = {str(o["metadata"]["name"]): o for o in items if self._accept(o)}
        self._expire()
        list_rv = int(rv) if rv.isdigit() else None
        # A watcher's list may have started before one of our writes finished: keep the newer.
        for name, w in self._written.items():
            listed = fresh.get(name)
            listed_rv = None if listed is None else _rv(listed)
            if w.deleted:
                if listed_rv is not None and listed_rv <= w.rv:
                    del fresh[name]
            elif name in self._objects and (
                (listed_rv is not None and listed_rv < w.rv)
                or (listed is None and list_rv is not None and list_rv < w.rv)
            ):
                fresh[name] = self._objects[name]
        self._objects = fresh
        self.resource_version = rv
        self.listed = True
        self._on_change()

    def record_write(self, obj: JSON) -> None:
        """A create/update response: the freshest state of that slice."""
        name = str(obj["metadata"]["name"])
        self._objects[name] = obj
        rv = _rv(obj)
        if rv is not None:
            self._written[name] = _Written(rv=rv, deleted=False, at=self._clock())

    def record_delete(self, obj: JSON) -> None:
        name = str(obj["metadata"]["name"])
        self._objects.pop(name, None)
        rv = _rv(obj)
        if rv is not None:
            self._written[name] = _Written(rv=rv, deleted=True, at=self._clock())

    def apply(self, event: JSON) -> None:
        """One watch event."""
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            raise watch_error(obj, _SLICES)
        rv = str(obj.get("metadata", {}).get("resourceVersion", ""))
        if rv:
            self.resource_version = rv
        if kind == "BOOKMARK" or not self._accept(obj):
            return
        name = str(obj["metadata"]["name"])
        if self._stale(name, _rv(obj), kind == "DELETED"):
            return
        if kind == "DELETED":
            if self._objects.pop(name, None) is None:
                return
        else:
            self._objects[name] = obj
        self._on_change()

    def _stale(self, name: str, rv: int | None, deleting: bool) -> bool:
        w = self._written.get(name)
        if w is None or rv is None or self._clock() - w.at > self._ttl:
            return False
        # After our delete only a newer event may bring the slice back; after our write an
        # event at the same version is our own echo (harmless), an older one is stale.
        return rv <= w.rv if w.deleted and not deleting else rv < w.rv

    def _expire(self) -> None:
        now = self._clock()
        self._written = {n: w for n, w in self._written.items() if now - w.at <= self._ttl}

    async def run(self) -> None:
        """List, then watch forever; re-list on 410 Gone, back off on errors. Cancellable."""
        self.watching = True
        failures = 0
        try:
            while True:
                try:
                    if not self.listed:
                        await self.relist()
                    events = 0
                    async for event in self.api.watch_slices(
                        self.field_selector, self.resource_version
                    ):
                        self.apply(event)
                        events += 1
                        failures = 0
                    if not events:  # closed at once: do not spin on a server that does that
                        await asyncio.sleep(self._backoff.initial)
                except asyncio.CancelledError:
                    raise
                except GoneError:
                    log.info("slice watch expired, listing again", extra=self._fields())
                    self.listed = False
                    continue
                except Exception as err:
                    failures += 1
                    delay = self._backoff.delay(failures)
                    log.warning(
                        "slice watch failed, retrying",
                        extra={**self._fields(), "error": repr(err), "retry_in": delay},
                    )
                    await asyncio.sleep(delay)
        finally:
            self.watching = False

    def _fields(self) -> JSON:
        return {"field_selector": self.field_selector, "resource_version": self.resource_version}
