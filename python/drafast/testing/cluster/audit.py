"""The API server's audit log: which policy the harness gives it, and reading it back, so tests
and benchmarks can count a plugin's writes (ResourceSlices, ResourceClaim status)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["AUDIT_POLICY", "WRITE_VERBS", "AuditLog"]

#: Audit policy: ResourceSlice and ResourceClaim writes at Metadata level, nothing else.
AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "Metadata",
            "verbs": ["create", "update", "patch", "delete", "deletecollection"],
            "resources": [
                {
                    "group": "resource.k8s.io",
                    "resources": ["resourceslices", "resourceclaims", "resourceclaims/status"],
                }
            ],
        },
        {"level": "None"},
    ],
}

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class AuditLog:
    """The API server's JSON audit log (appended to across API-server restarts)."""

    path: Path

    def events(self) -> list[dict[str, Any]]:
        """Every complete event written so far (``ResponseComplete``/``Panic`` stages)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def writes(
        self,
        *,
        resource: str = "resourceslices",
        subresource: str | None = None,
        verbs: frozenset[str] = WRITE_VERBS,
        user: str | None = None,
        successful_only: bool = True,
    ) -> list[dict[str, Any]]:
        """Write events for ``resource`` (optionally one subresource / one user name)."""
        found = []
        for ev in self.events():
            ref = ev.get("objectRef") or {}
            if ref.get("resource") != resource or ev.get("verb") not in verbs:
                continue
            if (ref.get("subresource") or None) != subresource:
                continue
            if user is not None and (ev.get("user") or {}).get("username") != user:
                continue
            code = (ev.get("responseStatus") or {}).get("code", 0)
            if successful_only and not 200 <= int(code) < 300:
                continue
            found.append(ev)
        return found

    def count(self, **kwargs: Any) -> int:
        """``len(self.writes(**kwargs))``."""
        return len(self.writes(**kwargs))
