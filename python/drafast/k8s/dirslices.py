"""ResourceSlices in a :class:`DirStore`, behind the same ``SliceAPI`` as the API server.

``dir:`` mode publishes through the same :class:`drafast.publish.SliceReconciler` as a cluster,
so slice names, generations and the zero-writes-when-unchanged rule are the same. This class
plays the API server's part: ``generateName`` suffixes, UIDs, resourceVersions (one counter,
seeded from the files, so a restarted process continues above what it finds), ``generation``
bumped on spec changes, 409 on stale writes and failed delete preconditions, no-op updates that
change nothing, and the same :mod:`drafast.k8s.errors` classes.

Watches: writes made here are journalled and handed to watchers at once; changes made by others
(another process, a person editing files) are found by polling the directory every
``poll_seconds`` (a stat per file; only changed files are read). Files are small and local, so
I/O runs on the event loop, as :class:`DirClaimSource` does.
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from drafast.k8s.dirstore import DirStore
from drafast.k8s.errors import ApiError, api_error
from drafast.k8s.paths import ObjectRef, slice_path
from drafast.k8s.selectors import fields_match
from drafast.resourceapi.names import API_VERSION
from drafast.types import JSON

RESOURCE = "resourceslices"
_SUFFIXES = (".json", ".yaml", ".yml")
# The API server's generateName alphabet (no vowels: no words by accident).
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_CHOICE = random.SystemRandom().choice  # secrets.choice, without secrets' hashlib import


@dataclass(frozen=True, slots=True)
class _Seen:
    stamp: tuple[int, int]  # (mtime_ns, size): re-read only files whose stamp changed
    obj: JSON


def _rv(obj: JSON) -> int:
    text = str(obj.get("metadata", {}).get("resourceVersion", ""))
    return int(text) if text.isdigit() else 0


class DirSlices:
    """:class:`drafast.publish.sliceapi.SliceAPI` over ``<store>/resourceslices/``."""

    def __init__(self, store: DirStore, *, poll_seconds: float = 2.0, journal: int = 1000) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self._journal_size = journal
        """Events kept for watchers; one resuming from before them gets 410 Gone (re-list)."""
        self._dir = store.root / RESOURCE
        self._seen: dict[str, _Seen] = {}
        self._rv = 0
        self._journal: list[tuple[int, JSON]] = []
        self._forgotten = 0  # events up to this resourceVersion were dropped from the journal
        self._changed = asyncio.Event()
        self.writes = 0
        """Creates, updates and deletes made through this object (no-op updates excluded)."""

    # ------------------------------------------------------------------ SliceAPI

    async def list_slices(self, field_selector: str) -> tuple[list[JSON], str]:
        self._scan()
        items = [copy.deepcopy(s.obj) for _, s in sorted(self._seen.items())]
        return [o for o in items if fields_match(o, field_selector)], str(self._rv)

    async def watch_slices(self, field_selector: str, resource_version: str) -> AsyncIterator[JSON]:
        since = int(resource_version) if resource_version.isdigit() else self._rv
        while True:
            if since < self._forgotten:
                raise self._error(
                    "watch", None, 410, "Expired", f"too old resource version: {since}"
                )
            changed = self._changed
            for rv, event in list(self._journal):  # writes may append while we yield
                if rv > since:
                    since = rv
                    if fields_match(event["object"], field_selector):
                        yield copy.deepcopy(event)
            try:
                await asyncio.wait_for(changed.wait(), self.poll_seconds)
            except TimeoutError:
                self._scan()

    async def create_slice(self, body: JSON) -> JSON:
        self._scan()
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise self._error("create", "*", 422, "Invalid", "metadata.name: Required value")
            suffix = "".join(_CHOICE(_ALPHABET) for _ in range(5))
            meta["name"] = meta.pop("generateName")[:58] + suffix
        name = str(meta["name"])
        if name in self._seen:
            raise self._error("create", name, 409, "AlreadyExists", f'"{name}" already exists')
        meta.update(
            uid=str(uuid.uuid4()),
            generation=1,
            creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        obj.setdefault("apiVersion", API_VERSION)
        obj.setdefault("kind", "ResourceSlice")
        return self._store(obj, "ADDED")

    async def update_slice(self, body: JSON) -> JSON:
        self._scan()
        name = str(body["metadata"]["name"])
        current = self._current("update", name)
        cur = current["metadata"]
        stated = body["metadata"]
        if stated.get("resourceVersion") not in (None, cur.get("resourceVersion")):
            raise self._error(
                "update", name, 409, "Conflict", "the object has been modified; read it again"
            )
        if stated.get("uid") not in (None, cur.get("uid")):
            raise self._error("update", name, 409, "Conflict", "UID precondition failed")
        if body.get("spec", {}).get("nodeName") != current.get("spec", {}).get("nodeName"):
            raise self._error("update", name, 422, "Invalid", "spec.nodeName: field is immutable")
        obj = copy.deepcopy(body)
        fixed = ("uid", "name", "creationTimestamp", "generation", "resourceVersion")
        obj["metadata"].update({k: cur[k] for k in fixed if k in cur})
        if obj.get("spec") != current.get("spec"):
            obj["metadata"]["generation"] = int(cur.get("generation", 1)) + 1
        if obj == current:  # a no-op write changes nothing, not even the resourceVersion
            return copy.deepcopy(current)
        return self._store(obj, "MODIFIED")

    async def delete_slice(self, name: str, uid: str, resource_version: str) -> None:
        self._scan()
        if name not in self._seen:
            return  # already gone: what the caller wanted
        cur = self._seen[name].obj["metadata"]
        if uid != cur.get("uid") or resource_version != cur.get("resourceVersion"):
            raise self._error("delete", name, 409, "Conflict", "precondition failed")
        self.store.delete(RESOURCE, name)
        gone = self._seen.pop(name).obj
        self.writes += 1
        self._record("DELETED", gone, bump=True)

    # ------------------------------------------------------------------ state

    def _current(self, verb: str, name: str) -> JSON:
        seen = self._seen.get(name)
        if seen is None:
            raise self._error(verb, name, 404, "NotFound", f'resourceslices "{name}" not found')
        return seen.obj

    def _store(self, obj: JSON, kind: str) -> JSON:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        path = self.store.put(RESOURCE, obj)
        self._seen[obj["metadata"]["name"]] = _Seen(_stamp(path), obj)
        self.writes += 1
        self._record(kind, obj, bump=False)
        return copy.deepcopy(obj)

    def _record(self, kind: str, obj: JSON, *, bump: bool) -> None:
        if bump:
            self._rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self._rv)
        self._journal.append((self._rv, {"type": kind, "object": copy.deepcopy(obj)}))
        if len(self._journal) > self._journal_size:
            self._forgotten = self._journal[-self._journal_size - 1][0]
            del self._journal[: -self._journal_size]
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _scan(self) -> None:
        """Catch up with the directory: files added, changed or removed by others."""
        found: dict[str, Path] = {}
        try:
            entries = list(os.scandir(self._dir))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or path.suffix not in _SUFFIXES or not entry.is_file():
                continue
            found.setdefault(path.stem, path)  # DirStore keeps one spelling per name
        for name in sorted(set(self._seen) - set(found)):
            self._record("DELETED", self._seen.pop(name).obj, bump=True)
        for stem, path in sorted(found.items()):
            stamp = _stamp(path)
            seen = self._seen.get(stem)
            if seen is not None and seen.stamp == stamp:
                continue
            obj = DirStore.load(path)
            meta = obj.setdefault("metadata", {})
            meta.setdefault("name", stem)
            if seen is not None and _without_rv(seen.obj) == _without_rv(obj):
                self._seen[stem] = _Seen(stamp, seen.obj)  # touched, not changed
                continue
            # Every change gets a resourceVersion of its own (a hand-edited file keeps its old
            # one on disk): writers holding the old version then get a conflict, as they should.
            self._rv = max(self._rv + 1, _rv(obj))
            meta["resourceVersion"] = str(self._rv)
            self._seen[stem] = _Seen(stamp, obj)
            self._record("ADDED" if seen is None else "MODIFIED", obj, bump=False)

    def _error(
        self, verb: str, name: str | None, status: int, reason: str, message: str
    ) -> ApiError:
        target = ObjectRef.from_path(slice_path(name))
        return api_error(
            verb=verb, target=target, status=status, reason=reason, api_message=message
        )


def _without_rv(obj: JSON) -> JSON:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)
