"""KubeAllocatedClaims: list + watch of this driver's allocated claims, relist on 410, backoff."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drafast.k8s import KubeAPI, KubeSettings, allocated_claim, claim_path
from drafast.k8s.allocated import CLAIMS_PATH, KubeAllocatedClaims, resolve_allocated
from drafast.testing.fakeapi import FakeAPIServer
from drafast.types import DriverName

from .watching import Yields

DRIVER = DriverName("me.example.com")
FAST: dict[str, Any] = {
    "backoff_initial_seconds": 0.01,
    "backoff_max_seconds": 0.02,
    "max_attempts": 2,
}


def ns_claims(ns: str) -> str:
    return f"/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaims"


def add(server: FakeAPIServer, ns: str, name: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("driver", DRIVER)
    kw.setdefault("devices", [("r", "pool-a", "d0")])
    return server.add(ns_claims(ns), allocated_claim(namespace=ns, name=name, **kw))


@pytest.fixture
async def api(server: FakeAPIServer, tmp_path: Path) -> AsyncIterator[KubeAPI]:
    settings = KubeSettings(kubeconfig=server.kubeconfig(tmp_path / "kc"), **FAST)
    async with KubeAPI(settings) as client:
        yield client


def list_requests(server: FakeAPIServer) -> list[Any]:
    return [r for r in server.requests if r.path == CLAIMS_PATH and "watch" not in r.query]


async def test_yields_the_complete_set_at_start_and_after_each_change(
    api: KubeAPI, server: FakeAPIServer, caplog: pytest.LogCaptureFixture
) -> None:
    add(server, "b", "mine")
    add(server, "a", "mine-too")
    add(server, "a", "theirs", driver="other.example.com")
    unallocated = allocated_claim(namespace="a", name="pending", driver=DRIVER, devices=[])
    del unallocated["status"]["allocation"]
    server.add(ns_claims("a"), unallocated)
    bad = allocated_claim(namespace="a", name="bad", driver=DRIVER, devices=[("r", "p", "d")])
    bad["status"]["allocation"]["devices"]["results"][0]["adminAccess"] = "false"
    server.add(ns_claims("a"), bad)

    watch = Yields(KubeAllocatedClaims(api, DRIVER))
    try:
        with caplog.at_level(logging.ERROR, logger="drafast.k8s.allocated"):
            assert await watch.nth(1) == ["a/mine-too", "b/mine"]
        (record,) = caplog.records
        assert "claim a/bad" in record.error  # type: ignore[attr-defined]
        assert "results[0].adminAccess must be a boolean" in record.error  # type: ignore[attr-defined]
        first = watch.sets[0][0]
        assert [(d.pool, d.device) for d in first.devices] == [("pool-a", "d0")]

        # An unrelated claim changes: nothing yielded; then ours: the whole set again.
        add(server, "a", "theirs-2", driver="other.example.com")
        add(server, "c", "new")
        assert await watch.nth(2) == ["a/mine-too", "b/mine", "c/new"]

        # A status write to a kept claim is a change (the controller sees its conditions).
        claim = copy.deepcopy(server.objects[claim_path("b", "mine")])
        claim["status"]["devices"] = [{"driver": DRIVER, "pool": "pool-a", "device": "d0"}]
        await api.update(claim_path("b", "mine") + "/status", claim)
        assert await watch.nth(3) == ["a/mine-too", "b/mine", "c/new"]
        assert watch.sets[2][1].obj["status"]["devices"][0]["device"] == "d0"

        await api.delete(claim_path("a", "mine-too"))
        assert await watch.nth(4) == ["b/mine", "c/new"]

        # Deallocated (the scheduler gave up on a binding condition): no longer ours.
        new = copy.deepcopy(server.objects[claim_path("c", "new")])
        del new["status"]["allocation"]
        await api.update(claim_path("c", "new") + "/status", new)
        assert await watch.nth(5) == ["b/mine"]
        assert len(watch.sets) == 5
    finally:
        await watch.stop()


async def test_pools_limit_claims_and_devices(api: KubeAPI, server: FakeAPIServer) -> None:
    add(server, "a", "both", devices=[("r", "pool-a", "d0"), ("r", "pool-b", "d1")])
    add(server, "a", "only-b", devices=[("r", "pool-b", "d2")])
    watch = Yields(KubeAllocatedClaims(api, DRIVER, pools={"pool-a"}))
    try:
        assert await watch.nth(1) == ["a/both"]
        assert [d.device for d in watch.sets[0][0].devices] == ["d0"]
    finally:
        await watch.stop()


async def test_gone_relists_and_sees_what_changed(api: KubeAPI, server: FakeAPIServer) -> None:
    add(server, "a", "one")
    watch = Yields(KubeAllocatedClaims(api, DRIVER))
    try:
        assert await watch.nth(1) == ["a/one"]
        lists = len(list_requests(server))
        # After an event the watch has not seen yet, so that it gets the error however late it
        # connects (an event is sent to watches from an older resourceVersion only).
        add(server, "a", "theirs", driver="other.example.com")
        status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
        server.send_event("ERROR", status)
        add(server, "a", "two")
        assert await watch.nth(2) == ["a/one", "a/two"]
        relists = sum(
            1 for r in server.requests if r.path == CLAIMS_PATH and "watch" not in r.query
        )
        assert relists == lists + 1
    finally:
        await watch.stop()


async def test_errors_back_off_and_reconnect(api: KubeAPI, server: FakeAPIServer) -> None:
    add(server, "a", "one")
    server.fail("GET", CLAIMS_PATH, 403, times=1)  # not retried by KubeAPI: ours to retry
    server.fail("GET", CLAIMS_PATH, 503, times=2)  # KubeAPI's own retry budget runs out
    watch = Yields(KubeAllocatedClaims(api, DRIVER, backoff_initial_seconds=0.01))
    try:
        assert await watch.nth(1) == ["a/one"]
        assert sum(1 for r in server.requests if r.path == CLAIMS_PATH) >= 4
    finally:
        await watch.stop()


def test_resolve_allocated_skips_what_is_not_ours() -> None:
    mine = allocated_claim(namespace="a", name="c", driver=DRIVER, devices=[("r", "p", "d")])
    assert resolve_allocated(mine, DRIVER, None) is not None
    assert resolve_allocated(mine, DRIVER, {"q"}) is None
    assert resolve_allocated(mine, "other.example.com", None) is None
