"""NodeLabels: owned labels reconciled with merge patches; nothing else on the Node touched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drafast.driver import NodeLabelSink
from drafast.k8s import OWNED_LABELS_ANNOTATION, ConflictError, KubeAPI, KubeSettings, NodeLabels
from drafast.testing.fakeapi import FakeAPIServer
from drafast.types import NodeName

NODE = "/api/v1/nodes/n1"


@pytest.fixture
async def server() -> AsyncIterator[FakeAPIServer]:
    async with FakeAPIServer() as s:
        s.add(
            "/api/v1/nodes",
            {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1", "team": "a"}}},
        )
        yield s


@pytest.fixture
async def api(server: FakeAPIServer, tmp_path: Path) -> AsyncIterator[KubeAPI]:
    async with KubeAPI(KubeSettings(kubeconfig=server.kubeconfig(tmp_path / "kc"))) as client:
        yield client


def meta(server: FakeAPIServer) -> dict[str, Any]:
    m: dict[str, Any] = server.objects[NODE]["metadata"]
    return m


def patches(server: FakeAPIServer) -> list[Any]:
    return [r.json() for r in server.requests if r.method == "PATCH"]


async def test_adds_changes_and_removes_only_owned_keys(
    api: KubeAPI, server: FakeAPIServer
) -> None:
    labels = NodeLabels(api, NodeName("n1"))
    assert await labels.reconcile({"nx.drafast.dev/present": "true", "nx.drafast.dev/gen": "10"})
    assert meta(server)["labels"] == {
        "kubernetes.io/hostname": "n1",
        "team": "a",
        "nx.drafast.dev/present": "true",
        "nx.drafast.dev/gen": "10",
    }
    assert meta(server)["annotations"] == {
        OWNED_LABELS_ANNOTATION: "nx.drafast.dev/gen,nx.drafast.dev/present"
    }

    # Someone else changes a label we do not own: we leave it alone.
    await api.patch(NODE, {"metadata": {"labels": {"team": "b"}}})
    assert await labels.reconcile({"nx.drafast.dev/gen": "11"})
    assert meta(server)["labels"] == {
        "kubernetes.io/hostname": "n1",
        "team": "b",
        "nx.drafast.dev/gen": "11",
    }
    assert meta(server)["annotations"] == {OWNED_LABELS_ANNOTATION: "nx.drafast.dev/gen"}
    assert patches(server)[-1] == {
        "metadata": {
            "labels": {"nx.drafast.dev/gen": "11", "nx.drafast.dev/present": None},
            "annotations": {OWNED_LABELS_ANNOTATION: "nx.drafast.dev/gen"},
            "resourceVersion": patches(server)[-1]["metadata"]["resourceVersion"],
        }
    }

    # Nothing desired: our keys and the annotation go; foreign ones stay.
    assert await labels.reconcile({})
    assert meta(server)["labels"] == {"kubernetes.io/hostname": "n1", "team": "b"}
    assert not meta(server).get("annotations")


async def test_no_write_when_equal(api: KubeAPI, server: FakeAPIServer) -> None:
    labels = NodeLabels(api, NodeName("n1"))
    assert await labels.reconcile({"a.drafast.dev/x": "1"})
    rv = meta(server)["resourceVersion"]
    writes = len(patches(server))
    assert not await labels.reconcile({"a.drafast.dev/x": "1"})
    assert not await NodeLabels(api, NodeName("n1")).reconcile({"a.drafast.dev/x": "1"})
    assert len(patches(server)) == writes
    assert meta(server)["resourceVersion"] == rv
    # Nothing owned and nothing desired: no write either (and no empty annotation).
    assert not await NodeLabels(api, NodeName("n1"), annotation="b.drafast.dev/owned").reconcile({})
    assert len(patches(server)) == writes


async def test_a_restart_removes_keys_no_longer_wanted(api: KubeAPI, server: FakeAPIServer) -> None:
    await NodeLabels(api, NodeName("n1")).reconcile({"old.drafast.dev/k": "v", "keep": "1"})
    # A new process (no memory) wants only "keep": ownership comes from the annotation.
    assert await NodeLabels(api, NodeName("n1")).reconcile({"keep": "1"})
    assert "old.drafast.dev/k" not in meta(server)["labels"]
    assert meta(server)["labels"]["keep"] == "1"


async def test_owners_with_different_annotations_do_not_interfere(
    api: KubeAPI, server: FakeAPIServer
) -> None:
    a = NodeLabels(api, NodeName("n1"), annotation="a.drafast.dev/owned-labels")
    b = NodeLabels(api, NodeName("n1"), annotation="b.drafast.dev/owned-labels")
    await a.reconcile({"a": "1"})
    await b.reconcile({"b": "1"})
    await a.reconcile({})
    assert meta(server)["labels"] == {"kubernetes.io/hostname": "n1", "team": "a", "b": "1"}
    assert meta(server)["annotations"] == {"b.drafast.dev/owned-labels": "b"}


async def test_conflict_rereads_and_retries(api: KubeAPI, server: FakeAPIServer) -> None:
    server.fail("PATCH", NODE, 409, reason="Conflict", message="modified")
    assert await NodeLabels(api, NodeName("n1")).reconcile({"x": "1"})
    assert meta(server)["labels"]["x"] == "1"
    assert [r.method for r in server.requests] == ["GET", "PATCH", "GET", "PATCH"]


async def test_persistent_conflict_surfaces(api: KubeAPI, server: FakeAPIServer) -> None:
    server.fail("PATCH", NODE, 409, reason="Conflict", message="modified", times=3)
    with pytest.raises(ConflictError, match=r"^nodes n1: patch failed: HTTP 409 Conflict"):
        await NodeLabels(api, NodeName("n1"), max_conflicts=3).reconcile({"x": "1"})


async def test_patch_is_guarded_by_the_resource_version_read(
    api: KubeAPI, server: FakeAPIServer
) -> None:
    labels = NodeLabels(api, NodeName("n1"))
    node = await api.get(NODE)
    await api.patch(NODE, {"metadata": {"labels": {"other": "x"}}})  # the node moves on
    patch = labels.patch_for(node, {"x": "1"})
    assert patch is not None
    with pytest.raises(ConflictError):
        await api.patch(NODE, patch)


def test_is_a_node_label_sink(api: KubeAPI) -> None:
    sink: NodeLabelSink = NodeLabels(api, NodeName("n1"))  # mypy checks the protocol
    assert isinstance(sink, NodeLabels)
