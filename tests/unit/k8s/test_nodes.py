"""Node UID lookup and owner references."""

from __future__ import annotations

from pathlib import Path

import pytest

from drafast.k8s import KubeAPI, KubeSettings, NotFoundError, node_owner_reference, node_uid
from drafast.testing.fakeapi import FakeAPIServer
from drafast.types import NodeName


async def test_node_uid_and_owner_reference(tmp_path: Path) -> None:
    async with FakeAPIServer() as server:
        node = server.add("/api/v1/nodes", {"metadata": {"name": "n1"}})
        async with KubeAPI(KubeSettings(kubeconfig=server.kubeconfig(tmp_path / "kc"))) as api:
            uid = await node_uid(api, NodeName("n1"))
            with pytest.raises(NotFoundError, match=r"^nodes n2: get failed: HTTP 404"):
                await node_uid(api, NodeName("n2"))
    assert uid == node["metadata"]["uid"]
    assert node_owner_reference(NodeName("n1"), uid) == {
        "apiVersion": "v1",
        "kind": "Node",
        "name": "n1",
        "uid": uid,
        "controller": True,
    }
