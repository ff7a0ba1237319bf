"""The API server client: raw JSON over HTTP/1.1 keep-alive (:mod:`drafast.k8s.http1`), with
retries and one error tree.

Bodies are plain dicts encoded and decoded with orjson: the generated model classes cost ~20 ms
per 128-device ResourceSlice round trip against ~1 ms raw. The official client is used only to
read unusual kubeconfigs (:mod:`drafast.k8s.credentials`). aiohttp cost ~0.4 ms of Python per
request (a claim GET is on the path of every prepare) and ~10 MiB of imports per plugin.

Retries: 429 and 503 (the server refused the request) and failed connects are retried for every
verb; other 5xx responses, timeouts and dropped connections only where a replay is harmless
(reads, PUT, DELETE, non-JSON-patch PATCH) -- a replayed POST could create a second object
under a ``generateName``. ``Retry-After`` replaces the computed delay. A 401 reloads the
credentials once (rotated token) and repeats the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Literal, Self, TypeVar
from urllib.parse import unquote, urlsplit

import orjson

from drafast.k8s.credentials import Credentials, Endpoint
from drafast.k8s.errors import watch_error
from drafast.k8s.failures import (
    Failure,
    decode_body,
    status_failure,
    transport_failure,
)
from drafast.k8s.http1 import Http1Client
from drafast.k8s.http1wire import HttpError, Origin, Response
from drafast.k8s.metrics import ApiMetrics
from drafast.k8s.paths import ObjectRef
from drafast.k8s.proxy import env_proxy
from drafast.k8s.settings import KubeSettings
from drafast.k8s.watch import BOOKMARK, ERROR, decode_event, iter_lines, object_version
from drafast.runtime.backoff import Backoff
from drafast.types import JSON

log = logging.getLogger(__name__)

_T = TypeVar("_T")

PatchType = Literal["merge", "strategic", "json", "apply"]
PATCH_CONTENT_TYPES: Final[Mapping[PatchType, str]] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",  # JSON is YAML: orjson output is accepted
}

PatchBody = JSON | list[JSON]
"""An object (merge, strategic, apply) or a list of operations (JSON patch)."""

Selector = str | Mapping[str, str]
"""``"a=b,c!=d"`` or ``{"a": "b"}`` (equality terms)."""


@dataclass(slots=True)
class ApiStats:
    """Plain counters for tests and logs; metrics go to :class:`ApiMetrics` as they happen."""

    requests: dict[str, int] = field(default_factory=dict)
    """HTTP attempts by verb (get, list, watch, create, update, patch, delete)."""
    errors: dict[int, int] = field(default_factory=dict)
    """Failed attempts by HTTP status; 0 means no response (connect error, timeout, drop)."""
    retries: int = 0


class KubeAPI:
    """An async API server client on raw JSON. Paths are REST paths (``/api/v1/nodes/n``).

    Safe for concurrent use from one event loop; connects on first use; ``close()`` (or
    ``async with``) releases the connection pool. Every failure is an
    :class:`drafast.k8s.errors.ApiError` naming the object, the HTTP status and the server's
    message; see that module for which subclass means what.
    """

    def __init__(
        self,
        settings: KubeSettings,
        *,
        credentials: Credentials | None = None,
        metrics: ApiMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.stats = ApiStats()
        self._metrics = metrics
        self._credentials = credentials or Credentials(settings.kubeconfig, settings.context)
        self._client: Http1Client | None = None
        self._auth: str | None = None
        self._auth_checked = 0.0
        self._connect_lock = asyncio.Lock()
        self._auth_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    # ------------------------------------------------------------------------------ verbs

    async def get(self, path: str) -> JSON:
        return await self._request("get", "GET", path, ObjectRef.from_path(path))

    async def list(
        self,
        path: str,
        *,
        label_selector: Selector | None = None,
        field_selector: Selector | None = None,
    ) -> JSON:
        """The whole collection, following ``continue`` tokens; ``metadata.resourceVersion`` is
        the first page's (the snapshot all pages come from), ready for :meth:`watch`.
        An expired continue token raises :class:`GoneError`: list again."""
        target = ObjectRef.from_path(path)
        params = _selectors(label_selector, field_selector)
        params["limit"] = str(self.settings.list_page_size)
        result = await self._request("list", "GET", path, target, params=params)
        items = result.get("items") or []
        meta: JSON = result.setdefault("metadata", {})
        token = meta.pop("continue", None)
        meta.pop("remainingItemCount", None)
        while token:
            page = await self._request(
                "list", "GET", path, target, params={**params, "continue": token}
            )
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
        result["items"] = items
        return result

    async def create(self, path: str, body: JSON) -> JSON:
        """POST ``body`` to the collection ``path``. Not replayed after an ambiguous failure
        (it could create a second object): an :class:`AlreadyExistsError` can follow a retry."""
        meta = body.get("metadata") or {}
        name = meta.get("name") or f"{meta.get('generateName', '')}*"
        target = ObjectRef.from_path(path).named(name)
        return await self._request(
            "create",
            "POST",
            path,
            target,
            params=self._write_params(),
            body=orjson.dumps(body),
            idempotent=False,
        )

    async def update(self, path: str, body: JSON) -> JSON:
        """PUT the whole object. With ``metadata.resourceVersion`` set this fails with
        :class:`ConflictError` if the object changed since it was read."""
        return await self._request(
            "update",
            "PUT",
            path,
            ObjectRef.from_path(path),
            params=self._write_params(),
            body=orjson.dumps(body),
        )

    async def patch(
        self,
        path: str,
        body: PatchBody,
        content_type: PatchType = "merge",
        *,
        force: bool = False,
    ) -> JSON:
        """PATCH with a JSON merge patch (``None`` removes a key), a strategic merge patch, a
        JSON patch (a list of operations) or a server-side apply (``force`` takes ownership of
        conflicting fields)."""
        params = self._write_params()
        if content_type == "apply" and force:
            params["force"] = "true"
        return await self._request(
            "patch",
            "PATCH",
            path,
            ObjectRef.from_path(path),
            params=params,
            body=orjson.dumps(body),
            content_type=PATCH_CONTENT_TYPES[content_type],
            idempotent=content_type != "json",  # "add" to a list applies twice
        )

    async def delete(
        self,
        path: str,
        *,
        preconditions: Mapping[str, str] | None = None,
        propagation_policy: str | None = None,
    ) -> JSON:
        """DELETE; ``preconditions`` (``uid``, ``resourceVersion``) make a changed or replaced
        object fail with :class:`ConflictError` instead of being deleted."""
        options: JSON = {}
        if preconditions:
            options["preconditions"] = dict(preconditions)
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        body = None
        if options:
            body = orjson.dumps({"apiVersion": "v1", "kind": "DeleteOptions", **options})
        return await self._request("delete", "DELETE", path, ObjectRef.from_path(path), body=body)

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        field_selector: Selector | None = None,
        label_selector: Selector | None = None,
        bookmarks: bool = False,
    ) -> AsyncGenerator[JSON, None]:
        """Events (``{"type": ADDED|MODIFIED|DELETED, "object": {...}}``) after
        ``resource_version``, without end.

        Bookmarks advance, like every event, the resourceVersion from which the watch silently
        resumes when the server ends a request or the connection drops; they are handed out
        too (``BOOKMARK``, an object with only ``metadata.resourceVersion``) if ``bookmarks``
        is set, for callers that keep their own resume point. Raises :class:`GoneError` when
        that version is too old (410): list again and watch from the list's version. Other
        errors end the iteration as :class:`ApiError`.
        """
        target = ObjectRef.from_path(path)
        rv = resource_version
        interrupted = self._backoff()
        selectors = _selectors(label_selector, field_selector)
        while True:
            timeout = int(self.settings.watch_timeout_seconds * (1 + random.random()))
            params = {
                **selectors,
                "watch": "1",
                "allowWatchBookmarks": "true",
                "resourceVersion": rv,
                "timeoutSeconds": str(timeout),
            }
            resp = await self._retrying(
                "watch", target, functools.partial(self._open_stream, path, params, timeout)
            )
            delay = 0.0  # a clean end (timeoutSeconds reached) resumes at once
            read_timeout = timeout + self.settings.request_timeout_seconds
            async with contextlib.aclosing(iter_lines(resp.iter_any(read_timeout))) as lines:
                try:
                    while True:
                        try:
                            line = await anext(lines)
                        except StopAsyncIteration:
                            break
                        except (HttpError, TimeoutError) as err:
                            self._count_error(0)
                            delay = interrupted.next()
                            log.info(
                                "watch interrupted; resuming",
                                extra={"object": str(target), "error": repr(err)},
                            )
                            break
                        event = decode_event(line)
                        if event is None:
                            delay = interrupted.next()
                            log.warning(
                                "watch sent a malformed event; resuming",
                                extra={"object": str(target)},
                            )
                            break
                        obj: JSON = event["object"]
                        if event["type"] == ERROR:
                            raise watch_error(obj, target)
                        rv = object_version(obj) or rv
                        interrupted.reset()
                        if bookmarks or event["type"] != BOOKMARK:
                            yield event
                finally:
                    resp.close()
            await asyncio.sleep(delay)

    # ------------------------------------------------------------------------------ plumbing

    def _write_params(self) -> dict[str, str]:
        return {"fieldManager": self.settings.field_manager}

    def _backoff(self) -> Backoff:
        s = self.settings
        return Backoff(s.backoff_initial_seconds, s.backoff_max_seconds)

    def _count_error(self, status: int) -> None:
        self.stats.errors[status] = self.stats.errors.get(status, 0) + 1
        if self._metrics is not None:
            self._metrics.api_error(status)

    async def _request(
        self,
        verb: str,
        method: str,
        path: str,
        target: ObjectRef,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        idempotent: bool = True,
    ) -> JSON:
        async def attempt() -> JSON:
            client = await self._connect()
            try:
                resp = await client.request(
                    method,
                    path,
                    params=params,
                    headers=await self._headers(body is not None, content_type),
                    body=body,
                    timeout=self.settings.request_timeout_seconds,
                )
            except (HttpError, TimeoutError) as err:
                raise transport_failure(err, idempotent=idempotent) from err
            if resp.status >= 300:
                self._check_auth(resp)
                raise status_failure(resp, resp.body, idempotent=idempotent)
            return decode_body(resp.body)

        return await self._retrying(verb, target, attempt)

    async def _open_stream(
        self, path: str, params: Mapping[str, str], timeout_seconds: int
    ) -> Response:
        # No total timeout: the server ends the request after timeoutSeconds. A read stalled
        # well past that means a dead connection (the watch loop bounds each read).
        client = await self._connect()
        try:
            resp = await client.stream(
                "GET",
                path,
                params=params,
                headers=await self._headers(False, ""),
                connect_timeout=self.settings.request_timeout_seconds,
            )
        except (HttpError, TimeoutError) as err:
            raise transport_failure(err, idempotent=True) from err
        if resp.status >= 300:
            try:
                async with asyncio.timeout(self.settings.request_timeout_seconds):
                    raw = b"".join([c async for c in resp.iter_any()])
            except (HttpError, TimeoutError):
                raw = b""
            finally:
                resp.close()
            self._check_auth(resp)
            raise status_failure(resp, raw, idempotent=True)
        return resp

    async def _headers(self, has_body: bool, content_type: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        auth = await self._authorization()
        if auth:
            headers["Authorization"] = auth
        if has_body:
            headers["Content-Type"] = content_type
        return headers

    def _check_auth(self, resp: Response) -> None:
        if resp.status == 401:
            raise Failure(
                401,
                "Unauthorized",
                f"credentials from {self._credentials.source} were rejected",
                retryable=False,
                reauth=True,
            )

    async def _retrying(
        self, verb: str, target: ObjectRef, attempt: Callable[[], Awaitable[_T]]
    ) -> _T:
        s = self.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.retry_deadline_seconds
        backoff = self._backoff()
        reauthed = False
        attempts = 0
        while True:
            attempts += 1
            self.stats.requests[verb] = self.stats.requests.get(verb, 0) + 1
            try:
                return await attempt()
            except Failure as failure:
                self._count_error(failure.status or 0)
                if failure.reauth and not reauthed:
                    reauthed = True
                    await self._authorization(force=True)
                    continue
                if not failure.retryable:
                    raise failure.error(verb, target, attempts) from failure.__cause__
                delay = failure.retry_after
                if delay is None:
                    delay = backoff.next()
                if attempts >= s.max_attempts or loop.time() + delay > deadline:
                    raise failure.error(verb, target, attempts) from failure.__cause__
                self.stats.retries += 1
                log.info(
                    "API request failed; retrying",
                    extra={
                        "verb": verb,
                        "object": str(target),
                        "status": failure.status,
                        "reason": failure.reason,
                        "attempt": attempts,
                        "delay_s": round(delay, 3),
                    },
                )
                await asyncio.sleep(delay)

    async def _connect(self) -> Http1Client:
        if self._client is None:
            async with self._connect_lock:
                if self._client is None:
                    endpoint = await asyncio.to_thread(self._credentials.load)
                    self._auth = await asyncio.to_thread(self._credentials.authorization)
                    self._auth_checked = asyncio.get_running_loop().time()
                    proxy, proxy_auth = await asyncio.to_thread(_proxy_for, endpoint)
                    try:
                        origin = Origin.parse(endpoint.host)
                    except HttpError as err:
                        raise transport_failure(err, idempotent=True) from err
                    self._client = Http1Client(
                        origin,
                        ssl_context=endpoint.ssl,
                        server_hostname=endpoint.server_hostname,
                        proxy=proxy,
                        proxy_auth=proxy_auth,
                        default_headers={
                            "User-Agent": self.settings.user_agent,
                            "Accept": "application/json",
                        },
                        max_connections=self.settings.max_connections,
                        max_idle=self.settings.max_idle_connections,
                        idle_timeout=self.settings.idle_connection_timeout_seconds,
                    )
                    log.debug("API client connected", extra={"server": endpoint.host})
        return self._client

    async def _authorization(self, *, force: bool = False) -> str | None:
        """The current Authorization value; re-checked every ``credentials_refresh_seconds``
        (rotated token files, expiring exec tokens) and reloaded outright after a 401."""
        loop = asyncio.get_running_loop()
        if (
            not force
            and loop.time() - self._auth_checked < self.settings.credentials_refresh_seconds
        ):
            return self._auth
        used = self._auth
        async with self._auth_lock:
            stale = loop.time() - self._auth_checked >= self.settings.credentials_refresh_seconds
            if (force and self._auth == used) or stale:  # else: refreshed while we waited
                if force:
                    await asyncio.to_thread(self._credentials.load)
                self._auth = await asyncio.to_thread(self._credentials.authorization)
                self._auth_checked = loop.time()
        return self._auth


def _proxy_for(endpoint: Endpoint) -> tuple[str | None, tuple[str, str] | None]:
    """The kubeconfig's ``proxy-url``, else HTTPS_PROXY/HTTP_PROXY unless NO_PROXY exempts the
    server, read once at start as client-go reads them. Credentials in the proxy URL become
    its Proxy-Authorization."""
    proxy = endpoint.proxy or env_proxy(endpoint.host, os.environ)
    if not proxy:
        return None, None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    auth = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}", auth


def _selectors(labels: Selector | None, fields: Selector | None) -> dict[str, str]:
    params = {}
    for key, sel in (("labelSelector", labels), ("fieldSelector", fields)):
        if sel:
            params[key] = (
                sel if isinstance(sel, str) else ",".join(f"{k}={v}" for k, v in sel.items())
            )
    return params
