"""Dir-store ports: claim status, node labels and allocated claims on files."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drafast.driver import ClaimStatusSink, NodeLabelSink
from drafast.errors import ClaimError, ClaimNotFoundError
from drafast.k8s import OWNED_LABELS_ANNOTATION, DirStore, allocated_claim
from drafast.k8s.dirports import DirAllocatedClaims, DirClaimStatus, DirNodeLabels
from drafast.types import (
    ClaimRef,
    ClaimUID,
    Condition,
    DeviceKey,
    DeviceStatus,
    DriverName,
    NodeName,
)

from .watching import Yields

DRIVER = DriverName("me.example.com")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> DirStore:
    return DirStore(tmp_path / "cluster")


def put_claim(store: DirStore, ns: str, name: str, fmt: str = "json", **kw: Any) -> ClaimRef:
    kw.setdefault("driver", DRIVER)
    kw.setdefault("devices", [("r", "p", "d0"), ("r", "p", "d1")])
    obj = allocated_claim(namespace=ns, name=name, **kw)
    store.put("resourceclaims", obj, ns, fmt=fmt)
    return ClaimRef(namespace=ns, name=name, uid=ClaimUID(obj["metadata"]["uid"]))


def ready(device: str, status: str = "True") -> DeviceStatus:
    cond = Condition(type="Ready", status=status, reason="Attached")  # type: ignore[arg-type]
    return DeviceStatus(pool="p", device=device, conditions=[cond])


# --------------------------------------------------------------------------- DirClaimStatus


async def test_claim_status_merges_like_the_api_writer(store: DirStore) -> None:
    ref = put_claim(store, "ns", "c", fmt="yaml")
    now = [T0]
    sink: ClaimStatusSink = DirClaimStatus(store, DRIVER, clock=lambda: now[0])
    other = {"driver": "other.example.com", "pool": "p", "device": "x"}
    claim = store.get("resourceclaims", "c", "ns")
    assert claim is not None
    claim["status"]["devices"] = [other]
    store.put("resourceclaims", claim, "ns", fmt="yaml")

    assert await sink.set(ref, [ready("d0")])
    assert not await sink.set(ref, [ready("d0")])  # unchanged: no write
    now[0] = datetime(2026, 1, 2, tzinfo=UTC)
    assert await sink.set(ref, [ready("d1", "False")])
    assert (store.root / "resourceclaims/ns/c.yaml").is_file()  # YAML stays YAML
    devices = store.get("resourceclaims", "c", "ns")["status"]["devices"]  # type: ignore[index]
    assert [(d["driver"], d["device"]) for d in devices] == [
        ("other.example.com", "x"),
        (DRIVER, "d0"),
        (DRIVER, "d1"),
    ]
    assert devices[1]["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert devices[2]["conditions"][0]["lastTransitionTime"] == "2026-01-02T00:00:00Z"

    assert await sink.remove(ref, [DeviceKey(pool="p", device="d0")])
    assert await sink.remove(ref)
    assert not await sink.remove(ref)
    assert store.get("resourceclaims", "c", "ns")["status"]["devices"] == [other]  # type: ignore[index]


async def test_claim_status_errors_name_the_claim(store: DirStore) -> None:
    ref = put_claim(store, "ns", "c")
    sink = DirClaimStatus(store, DRIVER)
    with pytest.raises(ClaimError, match=r"claim ns/c .*device p/zz is not allocated"):
        await sink.set(ref, [ready("zz")])
    gone = ClaimRef(namespace="ns", name="nope", uid=ClaimUID("u"))
    with pytest.raises(ClaimNotFoundError, match="claim ns/nope"):
        await sink.set(gone, [ready("d0")])
    replaced = ClaimRef(namespace="ns", name="c", uid=ClaimUID("old-uid"))
    with pytest.raises(ClaimNotFoundError, match=r"claim ns/c \(old-uid\): replaced"):
        await sink.set(replaced, [ready("d0")])
    (store.root / "resourceclaims/ns/c.json").write_text("{")
    with pytest.raises(ClaimError, match=r"claim ns/c .*not valid JSON"):
        await sink.set(ref, [ready("d0")])


# --------------------------------------------------------------------------- DirNodeLabels


async def test_node_labels_touch_only_owned_keys(store: DirStore) -> None:
    store.put("nodes", {"metadata": {"name": "n1", "labels": {"team": "a"}}}, fmt="yaml")
    sink: NodeLabelSink = DirNodeLabels(store, NodeName("n1"))
    assert await sink.reconcile({"x/a": "1", "x/b": "2"})
    assert not await sink.reconcile({"x/a": "1", "x/b": "2"})
    meta = store.get("nodes", "n1")["metadata"]  # type: ignore[index]
    assert meta["labels"] == {"team": "a", "x/a": "1", "x/b": "2"}
    assert meta["annotations"] == {OWNED_LABELS_ANNOTATION: "x/a,x/b"}

    assert await sink.reconcile({"x/a": "3"})
    assert store.get("nodes", "n1")["metadata"]["labels"] == {"team": "a", "x/a": "3"}  # type: ignore[index]
    assert await sink.reconcile({})
    meta = store.get("nodes", "n1")["metadata"]  # type: ignore[index]
    assert meta == {"name": "n1", "labels": {"team": "a"}}
    assert (store.root / "nodes/n1.yaml").is_file()


async def test_node_labels_create_a_missing_node(store: DirStore) -> None:
    assert await DirNodeLabels(store, NodeName("n2"), annotation="me/owned").reconcile({"k": "v"})
    node = store.get("nodes", "n2")
    assert node is not None
    assert node["kind"] == "Node"
    assert node["metadata"]["labels"] == {"k": "v"}
    assert node["metadata"]["annotations"] == {"me/owned": "k"}


# --------------------------------------------------------------------------- DirAllocatedClaims


@pytest.fixture
async def polled(store: DirStore) -> AsyncIterator[Yields]:
    watch = Yields(DirAllocatedClaims(store, DRIVER, pools={"p"}, period_seconds=0.01))
    yield watch
    await watch.stop()


async def test_allocated_claims_yield_at_start_even_when_empty(polled: Yields) -> None:
    assert await polled.nth(1) == []


async def test_allocated_claims_yield_only_on_change(
    store: DirStore, caplog: pytest.LogCaptureFixture
) -> None:
    put_claim(store, "b", "mine", fmt="yaml")
    put_claim(store, "a", "theirs", driver="other.example.com")
    put_claim(store, "a", "other-pool", devices=[("r", "q", "d9")])
    (store.root / "resourceclaims/a/broken.yaml").write_text("a: [")
    watch = Yields(DirAllocatedClaims(store, DRIVER, pools={"p"}, period_seconds=0.01))
    try:
        with caplog.at_level(logging.ERROR, logger="drafast.k8s.dirports"):
            assert await watch.nth(1) == ["b/mine"]
            await asyncio.sleep(0.1)  # several polls: nothing changed, nothing yielded
        assert len(watch.sets) == 1
        assert ["broken.yaml" in r.error for r in caplog.records] == [True]  # type: ignore[attr-defined]

        put_claim(store, "a", "new")
        assert await watch.nth(2) == ["a/new", "b/mine"]
        (store.root / "resourceclaims/b/mine.yaml").unlink()
        assert await watch.nth(3) == ["a/new"]
        await DirClaimStatus(store, DRIVER).set(watch.sets[2][0].ref, [ready("d0")])
        assert await watch.nth(4) == ["a/new"]  # its object changed
        assert watch.sets[3][0].obj["status"]["devices"][0]["device"] == "d0"
    finally:
        await watch.stop()
