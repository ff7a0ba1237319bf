"""The driver ports over a :class:`DirStore` (``--cluster dir:PATH``): claim status, node labels
and allocated claims, with the same rules as their API-server twins (they share the pure parts).

The store has no resourceVersions, so there is no optimistic concurrency between processes:
each port serializes its own read-modify-writes (one lock per instance), and a write replaces
the file atomically. File I/O runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from drafast.errors import ClaimError, ClaimNotFoundError, ConfigError
from drafast.k8s.dirstore import DirStore
from drafast.k8s.labels import OWNED_LABELS_ANNOTATION, label_patch
from drafast.types import JSON, ClaimRef, DriverName, NodeName

# The claim status and allocated-claim helpers (and the claim parser behind them) are imported by
# the methods that use them: a plugin builds these ports at start but calls them only later.
if TYPE_CHECKING:
    from drafast.driver import AllocatedClaims, ClaimStatusSink, NodeLabelSink
    from drafast.types import Claim, DeviceKey, DeviceStatus

log = logging.getLogger(__name__)

CLAIMS = "resourceclaims"
NODES = "nodes"
_SUFFIXES = (".json", ".yaml", ".yml")


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(path: Path) -> str:
    """Keep a hand-written YAML file YAML when rewriting it."""
    return "json" if path.suffix == ".json" else "yaml"


class DirClaimStatus:
    """:class:`drafast.driver.ClaimStatusSink` on the claim files of a :class:`DirStore`: rewrites
    ``status.devices`` of ``<root>/resourceclaims/<ns>/<name>.*`` like
    :class:`drafast.k8s.ClaimStatusWriter` does through the API server."""

    def __init__(
        self, store: DirStore, driver: DriverName, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self._store = store
        self._driver = driver
        self._clock = clock
        self._lock = threading.Lock()

    async def set(self, ref: ClaimRef, devices: Iterable[DeviceStatus]) -> bool:
        from drafast.k8s.status import check_allocated, condition_time, merge_device_statuses

        updates = list(devices)

        def change(claim: JSON, current: list[JSON]) -> list[JSON]:
            check_allocated(ref, claim, self._driver, updates)
            return merge_device_statuses(
                current, self._driver, updates, condition_time(self._clock())
            )

        return await asyncio.to_thread(self._modify, ref, change)

    async def remove(self, ref: ClaimRef, keys: Iterable[DeviceKey] | None = None) -> bool:
        from drafast.k8s.status import remove_device_statuses

        drop = None if keys is None else frozenset(keys)

        def change(claim: JSON, current: list[JSON]) -> list[JSON]:
            return remove_device_statuses(current, self._driver, drop)

        return await asyncio.to_thread(self._modify, ref, change)

    def _modify(self, ref: ClaimRef, change: Callable[[JSON, list[JSON]], list[JSON]]) -> bool:
        from drafast.k8s.status import apply_device_change

        with self._lock:
            path = self._store.find(CLAIMS, ref.name, ref.namespace)
            if path is None:
                raise ClaimNotFoundError(f"{ref}: not found in {self._store.root}")
            try:
                claim = DirStore.load(path)
            except ConfigError as err:
                raise ClaimError(f"{ref}: {err}") from err
            uid = (claim.get("metadata") or {}).get("uid")
            if uid != ref.uid:
                raise ClaimNotFoundError(f"{ref}: replaced by a claim with UID {uid}")
            if not isinstance(claim.setdefault("status", {}), dict):
                raise ClaimError(f"{ref}: malformed object: status is not an object ({path})")
            if not apply_device_change(claim, change):
                return False
            self._store.put(CLAIMS, claim, ref.namespace, fmt=_fmt(path))
            return True


class DirNodeLabels:
    """:class:`drafast.driver.NodeLabelSink` on ``<root>/nodes/<node>.*`` with the ownership
    annotation of :class:`drafast.k8s.NodeLabels`. Offline there is no kubelet to create the
    Node, so a missing one is created with just its name and the labels."""

    def __init__(
        self, store: DirStore, node: NodeName, *, annotation: str = OWNED_LABELS_ANNOTATION
    ) -> None:
        self._store = store
        self._node = node
        self._annotation = annotation
        self._lock = threading.Lock()

    async def reconcile(self, desired: Mapping[str, str]) -> bool:
        return await asyncio.to_thread(self._reconcile, dict(desired))

    def _reconcile(self, desired: dict[str, str]) -> bool:
        with self._lock:
            path = self._store.find(NODES, self._node)
            node: JSON = (
                DirStore.load(path)
                if path is not None
                else {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self._node}}
            )
            patch = label_patch(node, desired, self._annotation)
            if patch is None:
                return False
            meta = node.setdefault("metadata", {})
            for field, changes in patch["metadata"].items():
                if field == "resourceVersion":
                    continue  # the API server's concurrency guard; the lock is ours
                merged = {**(meta.get(field) or {})}
                for key, value in changes.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                if merged:
                    meta[field] = merged
                else:
                    meta.pop(field, None)
            self._store.put(NODES, node, fmt=_fmt(path) if path else "json")
            log.info("node labels updated", extra={"node": self._node, "labels": desired})
            return True


_Stamp = tuple[int, int, int]
"""(mtime_ns, size, inode): a file whose stamp is unchanged is not read again."""


class DirAllocatedClaims:
    """:class:`drafast.driver.AllocatedClaims` by polling ``<root>/resourceclaims/*/`` every
    ``period_seconds``: yields the complete set of claims with results for ``driver`` (only
    devices in ``pools`` when given) at start and whenever it changed. Files are re-read only when
    their stamp changes, so a malformed file is logged once per version."""

    def __init__(
        self,
        store: DirStore,
        driver: DriverName,
        *,
        pools: Collection[str] | None = None,
        period_seconds: float = 2.0,
    ) -> None:
        self._store = store
        self._driver = driver
        self._pools = frozenset(pools) if pools is not None else None
        self._period = period_seconds
        self._cache: dict[Path, tuple[_Stamp, Claim | None]] = {}

    async def watch(self) -> AsyncIterator[Sequence[Claim]]:
        from drafast.k8s.allocated import same

        last: tuple[Claim, ...] | None = None
        while True:
            snap = await asyncio.to_thread(self._scan)
            if last is None or not same(last, snap):
                last = snap
                yield snap
            await asyncio.sleep(self._period)

    def _scan(self) -> tuple[Claim, ...]:
        from drafast.k8s.allocated import claim_key, resolve_or_skip

        seen: dict[Path, tuple[_Stamp, Claim | None]] = {}
        root = self._store.root / CLAIMS
        for path in _claim_files(root):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # removed since listed
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == stamp:
                seen[path] = cached
                continue
            try:
                obj = DirStore.load(path)
            except ConfigError as err:
                log.error("unreadable ResourceClaim file skipped", extra={"error": str(err)})
                seen[path] = (stamp, None)
                continue
            claim = resolve_or_skip(obj, self._driver, self._pools)
            if claim is not None and claim_key(obj) != (path.parent.name, path.stem):
                log.error(
                    "ResourceClaim file skipped: its namespace/name do not match its path",
                    extra={"path": str(path), "claim": str(claim.ref)},
                )
                claim = None
            seen[path] = (stamp, claim)
        self._cache = seen
        claims = {(c.ref.namespace, c.ref.name): c for _, c in seen.values() if c is not None}
        return tuple(claims[k] for k in sorted(claims))


def _claim_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [
        p
        for ns in sorted(root.iterdir())
        if ns.is_dir()
        for p in sorted(ns.iterdir())
        if p.suffix in _SUFFIXES and not p.name.startswith(".")
    ]


if TYPE_CHECKING:

    def _implements_ports(
        status: DirClaimStatus, labels: DirNodeLabels, claims: DirAllocatedClaims
    ) -> tuple[ClaimStatusSink, NodeLabelSink, AllocatedClaims]:
        return status, labels, claims  # mypy checks that they satisfy the protocols
