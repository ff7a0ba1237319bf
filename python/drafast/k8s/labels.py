"""Keeping a set of labels on a Node equal to a desired map, touching only the keys we own."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from drafast.k8s.errors import ConflictError
from drafast.k8s.paths import node_path
from drafast.types import JSON, NodeName

if TYPE_CHECKING:
    from drafast.driver import NodeLabelSink
    from drafast.k8s.api import KubeAPI  # annotations only: dir: runs never load it

log = logging.getLogger(__name__)

OWNED_LABELS_ANNOTATION = "drafast.dev/owned-labels"


class NodeLabels:
    """Reconciles the labels this component owns on one Node.

    Ownership is recorded on the Node itself, in an annotation holding the sorted, comma-separated
    owned keys, so a restarted process still removes keys it no longer wants. Components that
    label the same Node need different ``annotation`` keys (e.g. ``<driver>/owned-labels``).
    A key that is desired is owned from then on, even if someone else had set it before.

    Writes are JSON merge patches (``null`` removes a key) guarded by the resourceVersion that
    was read: on a conflict the Node is read again, at most ``max_conflicts`` times.
    """

    def __init__(
        self,
        api: KubeAPI,
        node: NodeName,
        *,
        annotation: str = OWNED_LABELS_ANNOTATION,
        max_conflicts: int = 5,
    ) -> None:
        self._api = api
        self._node = node
        self._annotation = annotation
        self._max_conflicts = max_conflicts

    async def reconcile(self, desired: Mapping[str, str]) -> bool:
        """Make the owned labels equal ``desired``; True if the Node was written. Idempotent:
        no write when the Node already matches."""
        path = node_path(self._node)
        for attempt in range(1, self._max_conflicts + 1):
            patch = self.patch_for(await self._api.get(path), desired)
            if patch is None:
                return False
            try:
                await self._api.patch(path, patch, "merge")
            except ConflictError:
                if attempt == self._max_conflicts:
                    raise
                continue
            log.info(
                "node labels updated",
                extra={"node": self._node, "labels": patch["metadata"].get("labels", {})},
            )
            return True
        raise AssertionError("unreachable")  # the loop returns or raises

    def patch_for(self, node: JSON, desired: Mapping[str, str]) -> JSON | None:
        """The merge patch taking ``node`` to ``desired``, or None if it is already there."""
        return label_patch(node, desired, self._annotation)


if TYPE_CHECKING:

    def _implements_node_label_sink(labels: NodeLabels) -> NodeLabelSink:
        return labels  # mypy checks that NodeLabels satisfies the protocol


def label_patch(node: JSON, desired: Mapping[str, str], annotation: str) -> JSON | None:
    """The JSON merge patch taking ``node``'s owned labels to ``desired`` (ownership recorded in
    ``annotation``), or None if it is already there. Pure; carries the node's resourceVersion
    so that the API server refuses it if the node moved on."""
    meta = node.get("metadata") or {}
    labels: Mapping[str, str] = meta.get("labels") or {}
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    owned = {k for k in annotations.get(annotation, "").split(",") if k}
    changes: dict[str, str | None] = {k: v for k, v in desired.items() if labels.get(k) != v}
    changes.update({k: None for k in sorted(owned - desired.keys()) if k in labels})
    record = ",".join(sorted(desired)) or None  # nothing owned: drop the annotation
    patch_meta: JSON = {}
    if changes:
        patch_meta["labels"] = changes
    if record != annotations.get(annotation):
        patch_meta["annotations"] = {annotation: record}
    if not patch_meta:
        return None
    if meta.get("resourceVersion"):
        patch_meta["resourceVersion"] = meta["resourceVersion"]  # conflict if it moved on
    return {"metadata": patch_meta}
