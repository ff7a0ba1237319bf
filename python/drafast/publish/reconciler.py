"""Keeps the API server's ResourceSlices equal to a driver's desired state, with minimal writes.

Semantics follow the Go resourceslice controller (1.36+); the per-pool plan is in
:mod:`.slicesync`. Differences on purpose: a slice deleted behind our back (the kubelet wipes
node-local slices 30 s after a driver is gone) is re-created within ``debounce_seconds`` rather
than after Go's 30 s sync delay, and cluster-level pools are only those this process was asked
to publish (a node's DaemonSet pod must not delete other publishers' pools).

Slices are never deleted on shutdown: the kubelet wipes node-local slices itself and the Node
owner reference garbage-collects them, while deleting on every restart would leave scheduling
gaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from drafast.errors import ConfigError, RecoverableError
from drafast.k8s.errors import ConflictError, NotFoundError
from drafast.publish.compare import dropped_paths, likely_gates
from drafast.publish.encode import pool_slice_specs
from drafast.publish.metrics import PublishMetrics, WriteVerb
from drafast.publish.sliceapi import OwnerRef, SliceAPI
from drafast.publish.slicecache import SliceCache
from drafast.publish.slicesync import PoolPlan, plan_pool
from drafast.publish.validate import check_driver_name, check_pool
from drafast.resourceapi.names import slice_generate_name
from drafast.runtime.backoff import Backoff
from drafast.types import JSON, DriverResources

log = logging.getLogger(__name__)


class PublishError(RecoverableError):
    """Some pools could not be brought to their desired state; the reconciler retries."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncStats:
    creates: int = 0
    updates: int = 0
    deletes: int = 0

    @property
    def writes(self) -> int:
        return self.creates + self.updates + self.deletes

    def __add__(self, other: SyncStats) -> SyncStats:
        return SyncStats(
            creates=self.creates + other.creates,
            updates=self.updates + other.updates,
            deletes=self.deletes + other.deletes,
        )


class _StaleCacheError(RecoverableError):
    """A write hit a conflict or a missing object: our view is stale, list again."""

    partial = SyncStats()
    """Writes made in the pass before it hit the conflict."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DroppedFields:
    """Fields the API server silently dropped (feature gates off); the stored form is adopted."""

    fields: tuple[str, ...]
    """Spec field paths, e.g. ``devices[].taints``."""
    gates: tuple[str, ...]
    """Feature gates that are likely disabled."""
    slice: str
    """A slice where it was seen last."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Want:
    specs: tuple[JSON, ...]
    generation: int
    names: tuple[str, ...]
    owner_references: tuple[JSON, ...]


def _pool_of(obj: JSON) -> str:
    return str(obj.get("spec", {}).get("pool", {}).get("name", ""))


class SliceReconciler:
    """Publishes one driver's :class:`DriverResources` as ResourceSlices.

    ``owner`` is the Node this process runs for; node-local pools (``Pool.node_name``) must
    name it. Without an owner only cluster-level pools (``node_selector``/``all_nodes``) can be
    published. ``set_desired`` never blocks; ``run`` applies it (and repairs drift) until
    cancelled; ``sync_once`` does one pass, for tests and for callers without ``run``.
    """

    def __init__(
        self,
        api: SliceAPI,
        driver: str,
        owner: OwnerRef | None,
        *,
        resync_seconds: float = 300.0,
        debounce_seconds: float = 0.1,
        backoff: Backoff | None = None,
        conflict_retries: int = 3,
        clock: Callable[[], float] = time.monotonic,
        metrics: PublishMetrics | None = None,
    ) -> None:
        check_driver_name(driver)
        self.api = api
        self.driver = driver
        self.owner = owner
        self._resync = resync_seconds
        self._debounce = debounce_seconds
        self._backoff = backoff or Backoff()
        self._conflict_retries = conflict_retries
        self._clock = clock
        self._metrics = metrics
        self._want: dict[str, _Want] | None = None
        self._invalid: dict[str, str] = {}
        self._cluster_pools: set[str] = set()
        self._ignored: set[str] = set()
        self._totals = SyncStats()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None
        self.ready = asyncio.Event()
        """Set after the first complete successful sync (readiness)."""
        self.dropped_fields: DroppedFields | None = None
        self._caches: dict[str, SliceCache] = {}
        self._handed_at: float | None = None
        if owner is not None:
            self._cache("node", owner.name)

    # ------------------------------------------------------------------ public surface

    @property
    def stats(self) -> SyncStats:
        """Writes made since construction."""
        return self._totals

    last_lag: float | None = None
    """Seconds from handing a desired state over to the API server matching it (last sync)."""

    @property
    def synced(self) -> bool:
        return self.ready.is_set()

    @property
    def invalid_pools(self) -> Mapping[str, str]:
        """Pools left unpublished (and untouched) because they failed validation."""
        return dict(self._invalid)

    def set_desired(self, resources: DriverResources) -> None:
        """Replace the desired state. Invalid pools are logged and left as published."""
        want: dict[str, _Want] = {}
        invalid: dict[str, str] = {}
        for name, pool in resources.pools.items():
            try:
                check_pool(name, pool, self.owner)
                specs = pool_slice_specs(self.driver, name, pool)
            except ConfigError as err:
                invalid[name] = str(err)
                if self._invalid.get(name) != str(err):  # once per problem, not per call
                    log.error("pool not published", extra={"pool": name, "error": str(err)})
                if pool.node_name is None:
                    self._cluster_pools.add(name)
                continue
            node_local = pool.node_name is not None
            owner = self.owner.name if node_local and self.owner else name
            want[name] = _Want(
                specs=tuple(specs),
                generation=pool.generation,
                names=tuple(slice_generate_name(i, self.driver, owner) for i in range(len(specs))),
                owner_references=(self.owner.reference(),) if node_local and self.owner else (),
            )
            if any(not s.get("nodeName") for s in specs):
                self._cluster_pools.add(name)
        self._want, self._invalid = want, invalid
        if self._handed_at is None:
            self._handed_at = self._clock()
        if self._cluster_pools:
            self._cache("cluster", "")
        self._wake.set()

    async def sync_once(self) -> SyncStats:
        """One full pass over all pools (listing first unless ``run`` keeps the view current).

        Raises :class:`PublishError` if some pool failed (the others are still synced), or the
        list's own error; conflicts are resolved here by listing again and retrying."""
        async with self._lock:
            if self._want is None:
                return SyncStats()
            total = SyncStats()
            for attempt in range(self._conflict_retries + 1):
                await self._refresh(force=attempt > 0)
                try:
                    total += await self._sync_pools()
                except _StaleCacheError as err:
                    total += err.partial
                    log.info("slice view stale, listing again", extra={"attempt": attempt})
                    continue
                break
            else:
                raise PublishError(f"driver {self.driver}: slices kept changing under us")
            self.ready.set()
            if self._handed_at is not None:
                self.last_lag = self._clock() - self._handed_at
                self._handed_at = None
                if self._metrics is not None:
                    self._metrics.published(self.last_lag)
            return total

    async def run(self) -> None:
        """Watch and reconcile until cancelled. Never deletes slices on the way out."""
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                for cache in self._caches.values():
                    self._start_watch(cache)
                tasks.create_task(self._sync_loop(), name=f"slice-sync {self.driver}")
        finally:
            self._tasks = None

    # ------------------------------------------------------------------ loops

    async def _sync_loop(self) -> None:
        failures = 0
        while True:
            if failures:
                # Back off regardless of events: our own partial writes must not spin us.
                await asyncio.sleep(self._backoff.delay(failures))
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._resync):
                        await self._wake.wait()
                await asyncio.sleep(self._debounce)  # one sync for a burst of events
            self._wake.clear()
            if not all(c.listed for c in self._caches.values()):
                continue  # the watcher's list will wake us
            try:
                stats = await self.sync_once()
            except Exception as err:
                failures += 1
                log.warning(
                    "slice sync failed, retrying", extra={"error": repr(err), "failures": failures}
                )
                continue
            failures = 0
            if stats.writes:
                log.info(
                    "slices reconciled",
                    extra={
                        "driver": self.driver,
                        "creates": stats.creates,
                        "updates": stats.updates,
                        "deletes": stats.deletes,
                    },
                )

    def _cache(self, scope: str, node: str) -> SliceCache:
        cache = self._caches.get(scope)
        if cache is None:
            cache = SliceCache(
                self.api,
                f"spec.driver={self.driver},spec.nodeName={node}",
                accept=lambda o: (
                    o.get("spec", {}).get("driver") == self.driver
                    and (o.get("spec", {}).get("nodeName") or "") == node
                ),
                on_change=self._wake.set,
                backoff=self._backoff,
                clock=self._clock,
            )
            self._caches[scope] = cache
            if self._tasks is not None:
                self._start_watch(cache)
        return cache

    def _start_watch(self, cache: SliceCache) -> None:
        assert self._tasks is not None
        self._tasks.create_task(cache.run(), name=f"slice-watch {cache.field_selector}")

    async def _refresh(self, *, force: bool) -> None:
        # Watched caches are current; unwatched ones (no run()) are listed on every pass.
        for cache in list(self._caches.values()):
            if force or not cache.watching or not cache.listed:
                await cache.relist()

    # ------------------------------------------------------------------ one pass

    def _existing(self) -> dict[str, list[JSON]]:
        pools: dict[str, list[JSON]] = {}
        for scope, cache in self._caches.items():
            for obj in cache.objects():
                pool = _pool_of(obj)
                if scope == "node" or pool in self._cluster_pools:
                    pools.setdefault(pool, []).append(obj)
        return pools

    async def _sync_pools(self) -> SyncStats:
        # set_desired may run while this pass awaits: work on one consistent desired state.
        wanted, invalid = self._want or {}, self._invalid
        existing = self._existing()
        total = SyncStats()
        failed: dict[str, BaseException] = {}
        for pool in sorted(set(wanted) | set(existing)):
            if pool in invalid:
                continue
            want = wanted.get(pool)
            plan = plan_pool(
                desired=want.specs if want else (),
                driver_generation=want.generation if want else 0,
                existing=existing.get(pool, ()),
                generate_name=want.names if want else (),
                owner_references=want.owner_references if want else (),
                ignored_fields=self._ignored,
            )
            if plan.empty:
                continue
            stats = _Counter()
            try:
                await self._apply(pool, plan, stats)
            except _StaleCacheError as err:
                err.partial = total + stats.value
                raise
            except Exception as err:
                failed[pool] = err
                log.warning("pool sync failed", extra={"pool": pool, "error": repr(err)})
            finally:
                self._totals += stats.value
            total += stats.value
        if failed:
            names = ", ".join(sorted(failed))
            first = next(iter(failed.values()))
            raise PublishError(f"driver {self.driver}: pools {names}: {first}") from first
        return total

    async def _apply(self, pool: str, plan: PoolPlan, stats: _Counter) -> None:
        fields = {"pool": pool, "generation": plan.generation}
        try:
            for obj in plan.deletes:
                meta = obj["metadata"]
                await self.api.delete_slice(meta["name"], meta["uid"], meta["resourceVersion"])
                self._cache_for(obj).record_delete(obj)
                self._written("delete", stats)
                log.debug("slice deleted", extra={**fields, "slice": meta["name"]})
            for body in plan.updates:
                stored = await self.api.update_slice(body)
                self._adopt(body, stored)
                self._written("update", stats)
            for body in plan.creates:
                stored = await self.api.create_slice(body)
                self._adopt(body, stored)
                self._written("create", stats)
        except Exception as err:
            if isinstance(err, ConflictError | NotFoundError):
                raise _StaleCacheError() from err
            raise

    def _written(self, verb: WriteVerb, stats: _Counter) -> None:
        stats.add(creates=verb == "create", updates=verb == "update", deletes=verb == "delete")
        if self._metrics is not None:
            self._metrics.slice_written(verb)

    def _cache_for(self, obj: JSON) -> SliceCache:
        node = obj.get("spec", {}).get("nodeName")
        return self._caches["node"] if node else self._cache("cluster", "")

    def _adopt(self, sent: JSON, stored: JSON) -> None:
        """Take the stored form as truth; report fields the server dropped, once per field."""
        self._cache_for(stored).record_write(stored)
        new = dropped_paths(sent["spec"], stored.get("spec", {})) - self._ignored
        if not new:
            return
        self._ignored |= new
        name = str(stored.get("metadata", {}).get("name", ""))
        self.dropped_fields = DroppedFields(
            fields=tuple(sorted(self._ignored)), gates=likely_gates(self._ignored), slice=name
        )
        log.warning(
            "api server dropped resourceslice fields; feature gates are probably disabled",
            extra={"slice": name, "fields": sorted(new), "gates": list(likely_gates(new))},
        )


class _Counter:
    """Writes of one pool pass, counted as they succeed (a failure keeps the partial count)."""

    def __init__(self) -> None:
        self.value = SyncStats()

    def add(self, *, creates: int = 0, updates: int = 0, deletes: int = 0) -> None:
        self.value += SyncStats(creates=creates, updates=updates, deletes=deletes)
