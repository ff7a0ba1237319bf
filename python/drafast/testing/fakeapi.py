"""An in-memory API server on 127.0.0.1, over real HTTP, for unit tests of API clients.

It stores any resource under its REST path and keeps the rules clients depend on: uid and
resourceVersion assignment, 409 on a stale resourceVersion, uid mismatch, existing name or failed
delete precondition, JSON merge patches, the ``/status`` subresource, equality selectors,
paginated lists and watches (410 after :meth:`FakeAPIServer.compact`). Scripted failures
(:meth:`FakeAPIServer.fail`) take precedence over everything. It validates nothing else: the
real API server in ``tests/e2e`` is the last word.

    async with FakeAPIServer() as server:
        api = KubeAPI(KubeSettings(kubeconfig=server.kubeconfig(tmp_path / "kubeconfig")))

Part of the test kit: nothing in the plugin imports it, so aiohttp's server half is never loaded in
production.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web

from drafast.k8s.paths import ObjectRef
from drafast.k8s.selectors import fields_match
from drafast.types import JSON

_MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(slots=True)
class _Scripted:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Event:
    rv: int
    key: str  # object path; "" for events every watch gets (bookmarks, injected errors)
    line: bytes


class FakeAPIServer:
    """See the module docstring. ``objects`` maps object paths to the stored objects."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.objects: dict[str, JSON] = {}
        self.requests: list[Recorded] = []
        self.url = ""
        self._rv = 0
        self._compacted = 0
        self._events: list[_Event] = []
        self._tick = asyncio.Event()
        self._drops = 0
        self._scripts: dict[tuple[str, str], deque[_Scripted]] = {}
        self._delays: dict[tuple[str, str], deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self._ssl = ssl_context

    # --------------------------------------------------------------------------- lifecycle

    async def start(self) -> Self:
        app = web.Application(client_max_size=16 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if self._ssl else 'http'}://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            self.drop_watches()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def kubeconfig(
        self,
        path: Path,
        *,
        token: str | None = "fake-token",
        cluster: JSON | None = None,
        user: JSON | None = None,
    ) -> Path:
        """Write a kubeconfig (JSON is YAML) pointing at this server; return its path.
        ``cluster`` and ``user`` add kubeconfig fields (``certificate-authority``, ...)."""
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url, **(cluster or {})}}],
            "users": [
                {"name": "fake", "user": {**({"token": token} if token else {}), **(user or {})}}
            ],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        path.write_bytes(orjson.dumps(cfg))
        return path

    # --------------------------------------------------------------------------- test controls

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        reason: str = "",
        message: str = "scripted failure",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` ``method`` requests to ``path`` (no query) with ``status``
        and a ``Status`` body (or ``body``), before any other handling."""
        if body is None:
            body = orjson.dumps(_status_obj(status, reason or "Scripted", message))
        queue = self._scripts.setdefault((method.upper(), path), deque())
        queue.extend(_Scripted(status, body, dict(headers or {})) for _ in range(times))

    def delay(self, method: str, path: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` ``method`` requests to ``path`` for ``seconds`` first."""
        self._delays.setdefault((method.upper(), path), deque()).extend([seconds] * times)

    def add(self, collection: str, obj: JSON) -> JSON:
        """Store ``obj`` as if created by POST to ``collection``; return the stored copy."""
        status, stored = self._create(ObjectRef.from_path(collection), _copy(obj))
        if status != 201:
            raise ValueError(f"cannot add {collection}: {stored.get('message')}")
        return stored

    def compact(self) -> None:
        """Forget history: watches from any older resourceVersion now get 410 Gone."""
        self._compacted = self._rv

    def send_event(self, event_type: str, obj: JSON) -> None:
        """Send an event (``BOOKMARK``, ``ERROR`` ...) to every open and future watch."""
        self._emit("", {"type": event_type, "object": obj})

    def send_line(self, line: bytes) -> None:
        """Send raw bytes (plus a newline) to every open and future watch: malformed events."""
        self._events.append(_Event(self._rv, "", line + b"\n"))
        self._notify()

    def bookmark(self) -> None:
        meta = {"resourceVersion": str(self._rv)}
        self.send_event("BOOKMARK", {"kind": "Bookmark", "metadata": meta})

    def drop_watches(self) -> None:
        """End every open watch response now (as a server timeout or restart would)."""
        self._drops += 1
        self._notify()

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    # --------------------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        delays = self._delays.get((request.method, request.path))
        if delays:
            await asyncio.sleep(delays.popleft())
        queue = self._scripts.get((request.method, request.path))
        if queue:
            s = queue.popleft()
            return web.Response(
                status=s.status, body=s.body, headers=s.headers, content_type="application/json"
            )
        ref = ObjectRef.from_path(request.path)
        if not ref.group_version or (ref.subresource and ref.subresource != "status"):
            return _reply(404, _status_obj(404, "NotFound", f"the server could not find {ref}"))
        if ref.name is None:
            if request.method == "GET" and request.query.get("watch") in {"1", "true"}:
                return await self._watch(request, ref)
            if request.method == "GET":
                return _reply(200, self._list(ref, request.query))
            if request.method == "POST":
                return _reply(*self._create(ref, _loads(body)))
        else:
            key = ref.named(ref.name).path.removesuffix(f"/{ref.subresource}")
            current = self.objects.get(key)
            if current is None:
                msg = f'{ref.resource} "{ref.name}" not found'
                return _reply(404, _status_obj(404, "NotFound", msg))
            if request.method == "GET":
                return _reply(200, current)
            if request.method == "PUT":
                return _reply(*self._update(key, ref, current, _loads(body)))
            if request.method == "PATCH":
                if request.content_type != _MERGE_PATCH:
                    msg = f"the fake server only does {_MERGE_PATCH}"
                    return _reply(415, _status_obj(415, "UnsupportedMediaType", msg))
                patch = _loads(body)
                return _reply(*self._update(key, ref, current, merge_patch(current, patch), patch))
            if request.method == "DELETE":
                return _reply(*self._delete(key, current, _loads(body) if body else {}))
        return _reply(405, _status_obj(405, "MethodNotAllowed", f"{request.method} {ref}"))

    # --------------------------------------------------------------------------- verbs

    def _create(self, ref: ObjectRef, obj: JSON) -> tuple[int, JSON]:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                return 422, _status_obj(422, "Invalid", "metadata.name: Required value")
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if ref.namespace:
            meta["namespace"] = ref.namespace
        key = ref.named(meta["name"]).path
        if key in self.objects:
            msg = f'{ref.resource} "{meta["name"]}" already exists'
            return 409, _status_obj(409, "AlreadyExists", msg)
        meta.update(
            uid=str(uuid.uuid4()),
            creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            generation=1,
        )
        self._store(key, obj, "ADDED")
        return 201, obj

    def _update(
        self, key: str, ref: ObjectRef, current: JSON, new: JSON, patch: JSON | None = None
    ) -> tuple[int, JSON]:
        stated = (patch if patch is not None else new).get("metadata") or {}
        cur_meta = current["metadata"]
        if stated.get("resourceVersion") not in (None, cur_meta["resourceVersion"]):
            msg = (
                f'Operation cannot be fulfilled on {ref.resource} "{ref.name}": the object has '
                "been modified; please apply your changes to the latest version and try again"
            )
            return 409, _status_obj(409, "Conflict", msg)
        if stated.get("uid") not in (None, cur_meta["uid"]):
            msg = (
                f"Precondition failed: UID in precondition: {stated['uid']}, "
                f"UID in object meta: {cur_meta['uid']}"
            )
            return 409, _status_obj(409, "Conflict", msg)
        if ref.subresource == "status":  # only status changes through /status ...
            result = _copy(current)
            result.pop("status", None)
            if new.get("status") is not None:
                result["status"] = new["status"]
        else:  # ... and never through the main resource
            result = _copy(new)
            result.pop("status", None)
            if "status" in current:
                result["status"] = current["status"]
            if result.get("spec") != current.get("spec"):
                cur_meta = {**cur_meta, "generation": cur_meta.get("generation", 1) + 1}
        fixed = ("uid", "name", "namespace", "creationTimestamp", "generation", "resourceVersion")
        meta = result.setdefault("metadata", {})
        meta.update({k: cur_meta[k] for k in fixed if k in cur_meta})
        if result == current:  # a no-op write changes nothing, not even the resourceVersion
            return 200, current
        self._store(key, result, "MODIFIED")
        return 200, result

    def _delete(self, key: str, current: JSON, options: JSON) -> tuple[int, JSON]:
        pre = options.get("preconditions") or {}
        meta = current["metadata"]
        if pre.get("uid") not in (None, meta["uid"]):
            msg = (
                f"Precondition failed: UID in precondition: {pre['uid']}, "
                f"UID in object meta: {meta['uid']}"
            )
            return 409, _status_obj(409, "Conflict", msg)
        if pre.get("resourceVersion") not in (None, meta["resourceVersion"]):
            msg = (
                f"Operation cannot be fulfilled on {key}: the ResourceVersion in the "
                f"precondition ({pre['resourceVersion']}) does not match the ResourceVersion "
                f"in record ({meta['resourceVersion']}). The object might have been modified"
            )
            return 409, _status_obj(409, "Conflict", msg)
        del self.objects[key]
        gone = _copy(current)
        self._rv += 1
        gone["metadata"]["resourceVersion"] = str(self._rv)
        self._emit(key, {"type": "DELETED", "object": gone})
        return 200, gone

    def _list(self, ref: ObjectRef, query: Any) -> JSON:
        items = [
            obj
            for key, obj in sorted(self.objects.items())
            if _in_collection(key, ref)
            and _matches(obj, query.get("labelSelector", ""), query.get("fieldSelector", ""))
        ]
        meta: JSON = {"resourceVersion": str(self._rv)}
        offset = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0)
        if limit:
            if offset + limit < len(items):
                meta["continue"] = str(offset + limit)
                meta["remainingItemCount"] = len(items) - offset - limit
            items = items[offset : offset + limit]
        return {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": items}

    async def _watch(self, request: web.Request, ref: ObjectRef) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        since = int(request.query.get("resourceVersion") or self._rv)
        if since < self._compacted:
            msg = f"too old resource version: {since} ({self._compacted})"
            gone = {"type": "ERROR", "object": _status_obj(410, "Expired", msg)}
            await resp.write(orjson.dumps(gone) + b"\n")
            return resp
        labels = request.query.get("labelSelector", "")
        fields = request.query.get("fieldSelector", "")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(request.query.get("timeoutSeconds") or 300)
        drops = self._drops
        pos = next((i for i, e in enumerate(self._events) if e.rv > since), len(self._events))
        while True:
            tick = self._tick  # taken before the writes: an event during them wakes us at once
            for event in self._events[pos:]:
                if not event.key:
                    await resp.write(event.line)
                elif _in_collection(event.key, ref):
                    obj = orjson.loads(event.line)["object"]
                    if _matches(obj, labels, fields):
                        await resp.write(event.line)
            pos = len(self._events)
            remaining = deadline - loop.time()
            if remaining <= 0 or self._drops != drops:
                return resp
            try:
                await asyncio.wait_for(tick.wait(), remaining)
            except TimeoutError:
                return resp

    # --------------------------------------------------------------------------- state

    def _store(self, key: str, obj: JSON, event_type: str) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self.objects[key] = obj
        self._emit(key, {"type": event_type, "object": obj})

    def _emit(self, key: str, event: JSON) -> None:
        self._events.append(_Event(self._rv, key, orjson.dumps(event) + b"\n"))
        self._notify()

    def _notify(self) -> None:
        # Wake every watch waiting on the current tick; later waits use a fresh one.
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _in_collection(key: str, ref: ObjectRef) -> bool:
    obj = ObjectRef.from_path(key)
    return (
        obj.group_version == ref.group_version
        and obj.resource == ref.resource
        and ref.namespace in (None, obj.namespace)
    )


def _matches(obj: JSON, labels: str, fields: str) -> bool:
    """Equality-based selectors: ``k=v``, ``k==v``, ``k!=v``; for labels also ``k`` and ``!k``."""
    have = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, labels.split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            ok = have.get(k) != v
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            ok = have.get(k) == v
        else:
            ok = (term[1:] not in have) if term.startswith("!") else term in have
        if not ok:
            return False
    return fields_match(obj, fields)


def _status_obj(code: int, reason: str, message: str) -> JSON:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _reply(status: int, obj: JSON) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(obj), content_type="application/json")


def _loads(body: bytes) -> JSON:
    obj = orjson.loads(body)
    if not isinstance(obj, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return obj


def _copy(obj: JSON) -> JSON:
    copied: JSON = orjson.loads(orjson.dumps(obj))
    return copied
