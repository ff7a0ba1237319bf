"""How drafast talks to the API server. Built in :mod:`drafast.app`, handed to :class:`KubeAPI`.

It lives here rather than in :mod:`drafast.config` because only this package reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeSettings:
    """Connection, retry and watch settings of :class:`drafast.k8s.KubeAPI`."""

    kubeconfig: Path | None
    """A kubeconfig file; None: in-cluster (service account token, ``KUBERNETES_SERVICE_*``)."""
    context: str | None = None
    """The kubeconfig context to use; None means its ``current-context``."""
    user_agent: str = "drafast"
    field_manager: str = "drafast"
    """Recorded in ``managedFields`` for every write (server-side apply needs one)."""
    request_timeout_seconds: float = 30.0
    """One attempt of one request, connect to last byte (watches: connect only)."""
    max_attempts: int = 6
    """Attempts per request, the first included, on 429/5xx/connection errors."""
    retry_deadline_seconds: float = 60.0
    """No retry starts (or sleeps) past this long after the first attempt."""
    backoff_initial_seconds: float = 0.25
    backoff_max_seconds: float = 8.0
    """Retry delays double from the initial value up to this, jittered to 50-100 %; a server's
    ``Retry-After`` replaces the computed delay."""
    watch_timeout_seconds: int = 300
    """Server-side length of one watch request (randomized up to 2x so watchers spread out);
    the watch then resumes from the last resourceVersion seen."""
    list_page_size: int = 500
    """``limit`` of one list page; :meth:`KubeAPI.list` follows ``continue`` tokens."""
    max_connections: int = 32
    """Connections to the API server open at once (HTTP/1.1: one request on each at a time)."""
    max_idle_connections: int = 32
    """Connections kept open between requests (all of them: see ``drafast.k8s.http1.MAX_IDLE``):
    the claim GETs of a many-claim prepare reuse them instead of connecting (and handshaking)."""
    idle_connection_timeout_seconds: float = 90.0
    """An idle connection is closed after this long (client-go's ``IdleConnTimeout``)."""
    credentials_refresh_seconds: float = 60.0
    """How often rotating credentials (in-cluster token file, exec plugins) are re-checked."""
