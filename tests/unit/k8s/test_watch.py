"""KubeAPI.watch: events, bookmarks, silent resume, 410 Gone; and the line splitter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drafast.k8s import ApiRequestError, GoneError, KubeAPI, KubeSettings, slice_path
from drafast.k8s.watch import decode_event, iter_lines
from drafast.testing.fakeapi import FakeAPIServer

FAST = {"backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.02, "max_attempts": 3}


@pytest.fixture
async def api(server: FakeAPIServer, tmp_path: Path) -> AsyncIterator[KubeAPI]:
    settings = KubeSettings(kubeconfig=server.kubeconfig(tmp_path / "kubeconfig"), **FAST)
    async with KubeAPI(settings) as client:
        yield client


def a_slice(name: str, node: str = "n1") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"driver": "d.example.com", "nodeName": node}}


class Collector:
    """Runs a watch in a task and collects (type, name) of its events."""

    def __init__(self, api: KubeAPI, rv: str, **selectors: Any) -> None:
        self.events: list[tuple[str, str]] = []
        self.error: BaseException | None = None
        self._progress = asyncio.Event()
        self._task = asyncio.create_task(self._run(api, rv, selectors), name="test-watch")

    async def _run(self, api: KubeAPI, rv: str, selectors: dict[str, Any]) -> None:
        try:
            async for ev in api.watch(slice_path(), resource_version=rv, **selectors):
                self.events.append((ev["type"], ev["object"]["metadata"]["name"]))
                self._progress.set()
        except Exception as err:
            self.error = err
        finally:
            self._progress.set()

    async def wait_for(self, n: int, within: float = 5.0) -> list[tuple[str, str]]:
        """The events once there are ``n`` of them or the watch ended."""
        async with asyncio.timeout(within):
            while len(self.events) < n and not self._task.done():
                self._progress.clear()
                await self._progress.wait()
        return self.events

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_watch_sees_changes_after_the_list(api: KubeAPI, server: FakeAPIServer) -> None:
    server.add(slice_path(), a_slice("old"))
    listed = await api.list(slice_path())
    w = Collector(
        api, listed["metadata"]["resourceVersion"], field_selector={"spec.nodeName": "n1"}
    )
    await asyncio.sleep(0.05)
    await api.create(slice_path(), a_slice("a"))
    await api.create(slice_path(), a_slice("elsewhere", node="n2"))  # filtered by the server
    await api.patch(
        slice_path("a"), {"spec": {"allNodes": None}, "metadata": {"labels": {"x": "1"}}}
    )
    await api.delete(slice_path("old"))
    assert await w.wait_for(3) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "old")]
    await w.stop()
    watch = next(r for r in server.requests if r.query.get("watch"))
    assert watch.query["allowWatchBookmarks"] == "true"
    assert watch.query["fieldSelector"] == "spec.nodeName=n1"
    assert watch.query["resourceVersion"] == listed["metadata"]["resourceVersion"]
    assert 300 <= int(watch.query["timeoutSeconds"]) <= 600


async def test_bookmarks_are_consumed_and_advance_the_resume_version(
    api: KubeAPI, server: FakeAPIServer
) -> None:
    w = Collector(api, server.resource_version, field_selector="spec.nodeName=n1")
    await asyncio.sleep(0.05)
    server.add(slice_path(), a_slice("a"))  # rv 1
    server.add(slice_path(), a_slice("b", node="n2"))  # rv 2, not for this watch ...
    server.bookmark()  # ... but the bookmark tells it the store is at rv 2
    await w.wait_for(1)
    await asyncio.sleep(0.05)
    server.drop_watches()  # the server ends the request: the watch resumes on its own
    await asyncio.sleep(0.1)
    server.add(slice_path(), a_slice("c"))
    assert await w.wait_for(2) == [("ADDED", "a"), ("ADDED", "c")]
    await w.stop()
    assert w.error is None, "a bookmark is never handed out as an event"
    watches = [r.query["resourceVersion"] for r in server.requests if r.query.get("watch")]
    assert watches == ["0", "2"], "resumed from the bookmark's version"


async def test_bookmarks_on_request(api: KubeAPI, server: FakeAPIServer) -> None:
    events = api.watch(slice_path(), resource_version=server.resource_version, bookmarks=True)
    first = asyncio.create_task(anext(events), name="first-event")
    await asyncio.sleep(0.05)
    server.add(slice_path(), a_slice("a"))
    server.bookmark()
    assert (await first)["type"] == "ADDED"
    bookmark = await anext(events)
    assert bookmark == {
        "type": "BOOKMARK",
        "object": {"kind": "Bookmark", "metadata": {"resourceVersion": "1"}},
    }
    await events.aclose()


async def test_resumes_after_a_dropped_connection_without_repeats(
    api: KubeAPI, server: FakeAPIServer
) -> None:
    w = Collector(api, server.resource_version)
    await asyncio.sleep(0.05)
    server.add(slice_path(), a_slice("a"))
    await w.wait_for(1)
    server.fail("GET", slice_path(), 503)  # the re-open fails once, then works
    server.drop_watches()
    await asyncio.sleep(0.1)
    server.add(slice_path(), a_slice("b"))
    assert await w.wait_for(2) == [("ADDED", "a"), ("ADDED", "b")]
    await w.stop()
    assert api.stats.errors == {503: 1}


async def test_a_malformed_event_resumes_after_a_pause(api: KubeAPI, server: FakeAPIServer) -> None:
    w = Collector(api, server.resource_version)
    await asyncio.sleep(0.05)
    server.add(slice_path(), a_slice("a"))
    server.send_line(b'{"type": "ADDED", "obj')
    server.add(slice_path(), a_slice("b"))
    assert await w.wait_for(2) == [("ADDED", "a"), ("ADDED", "b")]
    await w.stop()
    watches = [r.query["resourceVersion"] for r in server.requests if r.query.get("watch")]
    assert watches == ["0", "1"], "re-opened once, after the last good event"


async def test_too_old_version_raises_gone(api: KubeAPI, server: FakeAPIServer) -> None:
    server.add(slice_path(), a_slice("a"))
    server.add(slice_path(), a_slice("b"))
    server.compact()
    w = Collector(api, "1")
    await w.wait_for(1)
    assert isinstance(w.error, GoneError)
    assert w.error.status == 410
    assert "too old resource version" in str(w.error)
    assert str(w.error).startswith("resourceslices: watch failed: HTTP 410 Expired")


async def test_gone_as_an_event_mid_stream(api: KubeAPI, server: FakeAPIServer) -> None:
    w = Collector(api, server.resource_version)
    await asyncio.sleep(0.05)
    server.add(slice_path(), a_slice("a"))
    gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "gone"}
    server.send_event("ERROR", gone)
    await w.wait_for(5, within=2)
    assert w.events == [("ADDED", "a")]
    assert isinstance(w.error, GoneError)


async def test_gone_as_an_http_status(api: KubeAPI, server: FakeAPIServer) -> None:
    server.fail("GET", slice_path(), 410, reason="Gone", message="too old")
    w = Collector(api, "5")
    await w.wait_for(1)
    assert isinstance(w.error, GoneError)
    assert len(server.requests) == 1, "410 is not retried: the caller must re-list"


async def test_other_error_events_end_the_watch(api: KubeAPI, server: FakeAPIServer) -> None:
    w = Collector(api, server.resource_version)
    await asyncio.sleep(0.05)
    server.send_event(
        "ERROR", {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "no"}
    )
    await w.wait_for(1)
    assert isinstance(w.error, ApiRequestError)
    assert w.error.status == 403


async def test_lines_split_across_chunks() -> None:
    async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
        for p in parts:
            yield p

    big = b'{"type":"ADDED","object":{"x":"' + b"y" * 300_000 + b'"}}'
    parts = [b'{"a":1}\n{"b"', b":2}\n\n", big[:100], big[100:], b"\n", b'{"tail":true}']
    lines = [line async for line in iter_lines(chunks(*parts))]
    assert lines == [b'{"a":1}', b'{"b":2}', big, b'{"tail":true}']
    # \r\n and surrounding blanks are tolerated too
    assert [x async for x in iter_lines(chunks(b" a \r\n\r\nb\n"))] == [b"a", b"b"]


def test_decode_event() -> None:
    assert decode_event(b'{"type":"ADDED","object":{"a":1}}') == {
        "type": "ADDED",
        "object": {"a": 1},
    }
    assert decode_event(b"not json") is None
    assert decode_event(b'{"type":"ADDED"}') is None
    assert decode_event(b"[1]") is None
