"""KubeAPI against the in-memory API server over real HTTP: verbs, retries, errors, counters."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from drafast.errors import PermanentError, RecoverableError
from drafast.k8s import (
    AlreadyExistsError,
    ApiRequestError,
    ApiUnavailableError,
    ConflictError,
    KubeAPI,
    KubeSettings,
    NotFoundError,
    slice_path,
)
from drafast.k8s.credentials import Credentials, Endpoint
from drafast.testing.fakeapi import FakeAPIServer

FAST = {
    "backoff_initial_seconds": 0.01,
    "backoff_max_seconds": 0.02,
    "retry_deadline_seconds": 5.0,
    "max_attempts": 4,
}


@pytest.fixture
async def api(server: FakeAPIServer, tmp_path: Path) -> AsyncIterator[KubeAPI]:
    settings = KubeSettings(kubeconfig=server.kubeconfig(tmp_path / "kubeconfig"), **FAST)
    async with KubeAPI(settings) as client:
        yield client


def a_slice(name: str = "s1", **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": {"driver": "d.example.com", "nodeName": "n1", **spec},
    }


async def test_create_get_update_patch_delete(api: KubeAPI, server: FakeAPIServer) -> None:
    created = await api.create(slice_path(), a_slice())
    assert created["metadata"]["uid"]
    got = await api.get(slice_path("s1"))
    assert got == created

    got["spec"]["nodeName"] = "n2"
    updated = await api.update(slice_path("s1"), got)
    assert updated["spec"]["nodeName"] == "n2"
    assert updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]

    patched = await api.patch(slice_path("s1"), {"spec": {"nodeName": None, "allNodes": True}})
    assert patched["spec"] == {"driver": "d.example.com", "allNodes": True}

    await api.delete(slice_path("s1"))
    assert server.objects == {}
    # Writes name drafast as the field manager; every request carries the kubeconfig's token.
    writes = [r for r in server.requests if r.method in {"POST", "PUT", "PATCH"}]
    assert [r.query.get("fieldManager") for r in writes] == ["drafast"] * 3
    assert {r.headers["Authorization"] for r in server.requests} == {"Bearer fake-token"}
    assert writes[-1].headers["Content-Type"] == "application/merge-patch+json"
    assert api.stats.requests == {"create": 1, "get": 1, "update": 1, "patch": 1, "delete": 1}
    assert api.stats.errors == {}


async def test_bodies_are_sent_as_json_bytes(api: KubeAPI, server: FakeAPIServer) -> None:
    await api.create(slice_path(), a_slice(devices=[{"name": "d0"}]))
    post = server.requests[-1]
    assert post.headers["Content-Type"] == "application/json"
    assert orjson.loads(post.body)["spec"]["devices"] == [{"name": "d0"}]


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [
        ("strategic", "application/strategic-merge-patch+json"),
        ("json", "application/json-patch+json"),
        ("apply", "application/apply-patch+yaml"),
    ],
)
async def test_patch_content_types(
    api: KubeAPI, server: FakeAPIServer, kind: str, content_type: str
) -> None:
    await api.create(slice_path(), a_slice())
    body: object = [{"op": "add", "path": "/spec/allNodes", "value": True}]
    # The fake only merges; what matters here is what was sent (and that 415 is permanent).
    with pytest.raises(ApiRequestError) as err:
        await api.patch(slice_path("s1"), body, kind, force=True)  # type: ignore[arg-type]
    assert err.value.status == 415
    sent = server.requests[-1]
    assert sent.headers["Content-Type"] == content_type
    assert sent.query.get("force") == ("true" if kind == "apply" else None)
    assert len([r for r in server.requests if r.method == "PATCH"]) == 1


async def test_list_follows_continue_tokens_and_keeps_the_snapshot_version(
    server: FakeAPIServer, tmp_path: Path
) -> None:
    for i in range(7):
        server.add(slice_path(), a_slice(f"s{i}"))
    settings = KubeSettings(kubeconfig=server.kubeconfig(tmp_path / "kc"), list_page_size=3)
    async with KubeAPI(settings) as api:
        result = await api.list(slice_path())
    assert [o["metadata"]["name"] for o in result["items"]] == [f"s{i}" for i in range(7)]
    assert result["metadata"] == {"resourceVersion": "7"}
    lists = [r for r in server.requests if r.method == "GET"]
    assert [r.query.get("continue") for r in lists] == [None, "3", "6"]
    assert api.stats.requests == {"list": 3}


async def test_list_selectors(api: KubeAPI, server: FakeAPIServer) -> None:
    server.add(slice_path(), a_slice("a"))
    server.add(slice_path(), {**a_slice("b"), "spec": {"driver": "other", "nodeName": "n1"}})
    result = await api.list(
        slice_path(), field_selector={"spec.driver": "d.example.com", "spec.nodeName": "n1"}
    )
    assert [o["metadata"]["name"] for o in result["items"]] == ["a"]
    assert (
        server.requests[-1].query["fieldSelector"] == "spec.driver=d.example.com,spec.nodeName=n1"
    )
    await api.list(slice_path(), label_selector="x=y")
    assert server.requests[-1].query["labelSelector"] == "x=y"


async def test_429_waits_for_retry_after(api: KubeAPI, server: FakeAPIServer) -> None:
    server.add(slice_path(), a_slice())
    server.fail(
        "GET", slice_path("s1"), 429, headers={"Retry-After": "1"}, reason="TooManyRequests"
    )
    start = time.monotonic()
    got = await api.get(slice_path("s1"))
    elapsed = time.monotonic() - start
    assert got["metadata"]["name"] == "s1"
    assert 0.9 < elapsed < 3, "Retry-After replaces the (10 ms) computed backoff"
    assert api.stats.requests == {"get": 2}
    assert api.stats.errors == {429: 1}
    assert api.stats.retries == 1


async def test_503_and_500_on_reads_are_retried(api: KubeAPI, server: FakeAPIServer) -> None:
    server.add(slice_path(), a_slice())
    server.fail("GET", slice_path("s1"), 503)
    server.fail("GET", slice_path("s1"), 500)
    assert (await api.get(slice_path("s1")))["metadata"]["name"] == "s1"
    assert api.stats.errors == {503: 1, 500: 1}


async def test_gives_up_after_the_attempt_budget(api: KubeAPI, server: FakeAPIServer) -> None:
    server.fail(
        "GET", slice_path("s1"), 503, reason="ServiceUnavailable", message="etcd down", times=10
    )
    with pytest.raises(ApiUnavailableError) as err:
        await api.get(slice_path("s1"))
    assert isinstance(err.value, RecoverableError)
    assert err.value.status == 503
    assert err.value.attempts == 4
    assert str(err.value) == (
        "resourceslices s1: get failed: HTTP 503 ServiceUnavailable: etcd down "
        "(gave up after 4 attempts)"
    )
    assert api.stats.requests == {"get": 4}


async def test_gives_up_at_once_when_retry_after_passes_the_deadline(
    api: KubeAPI, server: FakeAPIServer
) -> None:
    server.fail("GET", slice_path("s1"), 429, headers={"Retry-After": "60"}, times=5)
    start = time.monotonic()
    with pytest.raises(ApiUnavailableError) as err:
        await api.get(slice_path("s1"))
    assert time.monotonic() - start < 1
    assert err.value.status == 429
    assert len(server.requests) == 1


async def test_create_is_not_replayed_after_a_500(api: KubeAPI, server: FakeAPIServer) -> None:
    server.fail("POST", slice_path(), 500, reason="InternalError", message="boom")
    with pytest.raises(ApiUnavailableError) as err:
        await api.create(slice_path(), a_slice())
    assert err.value.attempts == 1
    assert str(err.value) == "resourceslices s1: create failed: HTTP 500 InternalError: boom"
    # ... but a 503 (the server did nothing) is.
    server.fail("POST", slice_path(), 503)
    assert (await api.create(slice_path(), a_slice()))["metadata"]["name"] == "s1"


async def test_generate_name_is_named_in_errors(api: KubeAPI, server: FakeAPIServer) -> None:
    server.fail("POST", slice_path(), 422, reason="Invalid", message="spec.devices: Too many")
    body = {**a_slice(), "metadata": {"generateName": "00000-d-n1-"}}
    with pytest.raises(ApiRequestError, match=r"^resourceslices 00000-d-n1-\*: create failed"):
        await api.create(slice_path(), body)


async def test_conflict_on_stale_resource_version(api: KubeAPI) -> None:
    created = await api.create(slice_path(), a_slice())
    await api.patch(slice_path("s1"), {"spec": {"allNodes": True}})
    with pytest.raises(ConflictError) as err:
        await api.update(slice_path("s1"), created)
    assert isinstance(err.value, RecoverableError)
    assert err.value.status == 409
    assert err.value.reason == "Conflict"
    assert "the object has been modified" in err.value.api_message
    assert api.stats.requests["update"] == 1, "a conflict is the caller's to resolve"


async def test_already_exists_is_a_conflict(api: KubeAPI) -> None:
    await api.create(slice_path(), a_slice())
    with pytest.raises(AlreadyExistsError, match=r"HTTP 409 AlreadyExists"):
        await api.create(slice_path(), a_slice())


async def test_delete_preconditions(api: KubeAPI, server: FakeAPIServer) -> None:
    created = await api.create(slice_path(), a_slice())
    with pytest.raises(ConflictError, match="Precondition failed"):
        await api.delete(slice_path("s1"), preconditions={"uid": "someone-else"})
    assert server.requests[-1].json()["preconditions"] == {"uid": "someone-else"}
    meta = created["metadata"]
    pre = {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}
    with pytest.raises(ConflictError, match=r"ResourceVersion in the precondition \(0\)"):
        await api.delete(slice_path("s1"), preconditions={**pre, "resourceVersion": "0"})
    await api.delete(slice_path("s1"), preconditions=pre)
    assert server.objects == {}


async def test_not_found_names_the_object(api: KubeAPI) -> None:
    path = "/apis/resource.k8s.io/v1/namespaces/ns1/resourceclaims/c1"
    with pytest.raises(NotFoundError) as err:
        await api.get(path)
    assert isinstance(err.value, PermanentError)
    assert str(err.value) == (
        'resourceclaims ns1/c1: get failed: HTTP 404 NotFound: resourceclaims "c1" not found'
    )
    assert api.stats.errors == {404: 1}


async def test_non_status_error_bodies_are_quoted(api: KubeAPI, server: FakeAPIServer) -> None:
    server.fail("GET", "/api/v1/nodes/n1", 403, body=b"<html>forbidden by proxy</html>")
    with pytest.raises(
        ApiRequestError, match=r"nodes n1: get failed: HTTP 403 .*forbidden by proxy"
    ):
        await api.get("/api/v1/nodes/n1")


async def test_unauthorized_reloads_credentials_once(server: FakeAPIServer, tmp_path: Path) -> None:
    server.add("/api/v1/nodes", {"metadata": {"name": "n1"}})
    kubeconfig = server.kubeconfig(tmp_path / "kc", token="old")
    async with KubeAPI(KubeSettings(kubeconfig=kubeconfig, **FAST)) as api:
        await api.get("/api/v1/nodes/n1")
        server.kubeconfig(kubeconfig, token="new")  # rotated on disk
        server.fail("GET", "/api/v1/nodes/n1", 401, reason="Unauthorized")
        await api.get("/api/v1/nodes/n1")
        assert [r.headers["Authorization"] for r in server.requests] == [
            "Bearer old",
            "Bearer old",
            "Bearer new",
        ]
        server.fail("GET", "/api/v1/nodes/n1", 401, times=2)
        with pytest.raises(ApiRequestError, match=r"HTTP 401 Unauthorized: credentials from .*kc"):
            await api.get("/api/v1/nodes/n1")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_connection_refused_is_retried_then_unavailable(tmp_path: Path) -> None:
    port = _closed_port()
    kubeconfig = tmp_path / "kc"
    server = FakeAPIServer()
    server.url = f"http://127.0.0.1:{port}"  # never started: nothing listens there
    server.kubeconfig(kubeconfig)
    async with KubeAPI(KubeSettings(kubeconfig=kubeconfig, **FAST)) as api:
        with pytest.raises(ApiUnavailableError) as err:
            await api.create(slice_path(), a_slice())
    assert err.value.status is None
    assert err.value.attempts == 4, "a failed connect sent nothing: even a create is retried"
    assert str(err.value).startswith("resourceslices s1: create failed: no response (")
    assert api.stats.errors == {0: 4}


async def test_slow_server_times_out_and_is_retried(server: FakeAPIServer, tmp_path: Path) -> None:
    server.add("/api/v1/nodes", {"metadata": {"name": "n1"}})
    server.delay("GET", "/api/v1/nodes/n1", 1.0)
    settings = KubeSettings(
        kubeconfig=server.kubeconfig(tmp_path / "kc"), request_timeout_seconds=0.2, **FAST
    )
    async with KubeAPI(settings) as api:
        node = await api.get("/api/v1/nodes/n1")
        assert node["metadata"]["name"] == "n1"
        assert api.stats.errors == {0: 1}
        # A timed-out create may have happened: it is not replayed.
        server.delay("POST", "/api/v1/nodes", 1.0)
        with pytest.raises(
            ApiUnavailableError,
            match=r"nodes n2: create failed: no response \(TimeoutError\): timed out$",
        ):
            await api.create("/api/v1/nodes", {"metadata": {"name": "n2"}})


class CountingCredentials(Credentials):
    def __init__(self, kubeconfig: Path) -> None:
        super().__init__(kubeconfig)
        self.loads = 0

    def load(self) -> Endpoint:
        self.loads += 1
        return super().load()


async def test_concurrent_first_requests_load_credentials_once(
    server: FakeAPIServer, tmp_path: Path
) -> None:
    server.add("/api/v1/nodes", {"metadata": {"name": "n1"}})
    creds = CountingCredentials(server.kubeconfig(tmp_path / "kc"))
    async with KubeAPI(KubeSettings(kubeconfig=None), credentials=creds) as api:
        nodes = await asyncio.gather(*(api.get("/api/v1/nodes/n1") for _ in range(20)))
    assert {n["metadata"]["name"] for n in nodes} == {"n1"}
    assert api.stats.requests == {"get": 20}
    assert creds.loads == 1
