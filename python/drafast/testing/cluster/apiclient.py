"""The small JSON client the harness and the e2e tests talk to the API server with (stdlib only,
so the harness does not depend on the client library it helps to test)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drafast.testing.cluster.probes import insecure_context

__all__ = ["ApiClient", "ApiError"]


class ApiError(RuntimeError):
    """A non-2xx answer from the API server."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.method, self.path, self.status, self.body = method, path, status, body
        super().__init__(f"{method} {path}: HTTP {status}: {body[:2000]}")


class ApiClient:
    """A minimal JSON client for the API server (verifies the serving cert if given its CA)."""

    def __init__(self, server: str, token: str, ca_file: Path | None) -> None:
        self.server = server.rstrip("/")
        self.token = token
        if ca_file is None:
            self._ctx = insecure_context()
        else:
            self._ctx = ssl.create_default_context(cafile=str(ca_file))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        """Send ``body`` as JSON; return the decoded JSON answer. Raises :class:`ApiError`."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ctx) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise ApiError(method, path, e.code, e.read().decode(errors="replace")) from None
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def create(self, path: str, obj: Mapping[str, Any]) -> Any:
        return self.request("POST", path, obj)

    def replace(self, path: str, obj: Mapping[str, Any]) -> Any:
        return self.request("PUT", path, obj)

    def merge_patch(self, path: str, patch: Mapping[str, Any]) -> Any:
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    def delete(self, path: str, *, grace_seconds: int | None = None) -> Any:
        body = None if grace_seconds is None else {"gracePeriodSeconds": grace_seconds}
        return self.request("DELETE", path, body)
