"""The Node a node-local driver runs on: its UID, for owner references of published objects."""

from __future__ import annotations

from drafast.k8s.api import KubeAPI
from drafast.k8s.paths import node_path
from drafast.types import JSON, NodeName


async def node_uid(api: KubeAPI, name: NodeName) -> str:
    """The Node's ``metadata.uid``; :class:`drafast.k8s.errors.NotFoundError` if it is absent."""
    node = await api.get(node_path(name))
    return str(node["metadata"]["uid"])


def node_owner_reference(name: NodeName, uid: str) -> JSON:
    """An owner reference to the Node, so its deletion garbage-collects what it owns (the Go
    helper marks it ``controller`` too)."""
    return {"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid, "controller": True}
