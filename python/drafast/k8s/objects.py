"""Builders for ``resource.k8s.io/v1`` objects as plain JSON (for the demo, tests and tools)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from drafast.resourceapi.names import API_VERSION
from drafast.types import JSON


def allocated_claim(
    *,
    namespace: str,
    name: str,
    driver: str,
    devices: Sequence[tuple[str, str, str]],
    pods: Sequence[str] = (),
    uid: str | None = None,
    configs: Sequence[JSON] = (),
) -> JSON:
    """An allocated ResourceClaim: ``devices`` are (request, pool, device) results for ``driver``,
    ``pods`` the names of the pods it is reserved for; ``configs`` are allocation config entries."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceClaim",
        "metadata": {"namespace": namespace, "name": name, "uid": uid or str(uuid.uuid4())},
        "spec": {
            "devices": {
                "requests": [
                    {"name": r, "exactly": {"deviceClassName": driver}}
                    for r in dict.fromkeys(req.split("/")[0] for req, _, _ in devices)
                ]
            }
        },
        "status": {
            "allocation": {
                "devices": {
                    "results": [
                        {"request": req, "driver": driver, "pool": pool, "device": dev}
                        for req, pool, dev in devices
                    ],
                    "config": list(configs),
                }
            },
            "reservedFor": [
                {"resource": "pods", "name": p, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, p))}
                for p in pods
            ],
        },
    }
