"""Leader election on a ``coordination.k8s.io/v1`` Lease, the way client-go's leaderelection
package does it, so drafast controllers and Go controllers read each other's leases.

* A candidate takes the lease when it is absent, released (no holder), expired
  (``renewTime + leaseDurationSeconds < now``) or already its own; a takeover from another
  holder increments ``leaderTransitions`` and sets ``acquireTime``.
* Every write is a PUT (or create) guarded by the resourceVersion just read: a 409 means another
  candidate won this round.
* The leader renews every ``retry_period``; a renewal that has not succeeded within
  ``renew_deadline`` (retrying every ``retry_period``) loses leadership. ``renew_deadline`` is
  shorter than ``lease_duration``, so a leader that cannot renew stops before anyone else may
  take over.
* On a clean exit the leader releases the lease (empty holder, 1 s duration), so a successor
  takes over at its next retry instead of waiting for the lease to expire.

Times in the object are ``MicroTime`` (``2006-01-02T15:04:05.000000Z``) from the injected wall
``clock``; waits use the event loop's monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from drafast.errors import ConfigError, RecoverableError
from drafast.k8s.api import KubeAPI
from drafast.k8s.errors import AlreadyExistsError, ApiError, ConflictError, NotFoundError
from drafast.types import JSON

log = logging.getLogger(__name__)

COORDINATION_V1 = "coordination.k8s.io/v1"
_JITTER = 1.2  # client-go's JitterFactor for acquire retries


def lease_path(namespace: str, name: str | None = None) -> str:
    """A Lease, or the namespace's collection when ``name`` is None."""
    base = f"/apis/{COORDINATION_V1}/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


def micro_time(t: datetime) -> str:
    """``metav1.MicroTime`` as the API server writes it (UTC, microseconds)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any) -> datetime | None:
    """A ``MicroTime`` or ``Time`` string; None if absent or unparsable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class LeaseLostError(RecoverableError):
    """This process was the leader and could not renew its lease in time."""


class LeaseElector:
    """Leader election for one identity (usually the pod name) on Lease ``namespace/name``.

    Use :meth:`run` (lead while leading) or :meth:`leadership`::

        async with elector.leadership() as lost:   # returns once this process leads
            ...start writers; stop them when ``lost`` is set...

    Needs get, create and update on leases in ``namespace``.
    """

    def __init__(
        self,
        api: KubeAPI,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], datetime] = _now,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not identity:
            raise ConfigError(f"lease {namespace}/{name}: the identity must not be empty")
        if not lease_duration > renew_deadline > _JITTER * retry_period > 0:
            raise ConfigError(
                f"lease {namespace}/{name}: need lease_duration ({lease_duration}s) > "
                f"renew_deadline ({renew_deadline}s) > {_JITTER} x retry_period ({retry_period}s)"
            )
        self._api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._duration = lease_duration
        self._deadline = renew_deadline
        self._retry = retry_period
        self._clock = clock
        self._rng = rng
        self._leading = False
        self.holder = ""
        """The holder seen in the last read ("" if none)."""

    def __str__(self) -> str:
        return f"lease {self.namespace}/{self.name}"

    @property
    def is_leader(self) -> bool:
        return self._leading

    # ------------------------------------------------------------------------------ one round

    async def try_acquire_or_renew(self) -> bool:
        """One attempt: True if this identity holds the lease afterwards. API failures other
        than a lost race raise :class:`ApiError`."""
        now = self._clock()
        path = lease_path(self.namespace, self.name)
        try:
            lease = await self._api.get(path)
        except NotFoundError:
            body: JSON = {
                "apiVersion": COORDINATION_V1,
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(now, acquired=now, transitions=0),
            }
            try:
                await self._api.create(lease_path(self.namespace), body)
            except AlreadyExistsError:
                return False  # another candidate created it first
            return self._won(taken_from=None)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        self.holder = holder
        ours = holder == self.identity
        if holder and not ours and not self._expired(spec, now):
            return False
        transitions = spec.get("leaderTransitions")
        transitions = transitions if isinstance(transitions, int) else 0
        acquired = parse_time(spec.get("acquireTime")) if ours else None
        lease["spec"] = self._spec(
            now,
            acquired=acquired or now,
            transitions=transitions if ours else transitions + 1,
        )
        try:
            await self._api.update(path, lease)  # carries the resourceVersion just read
        except ConflictError:
            return False  # someone else wrote it first
        return self._won(taken_from=None if ours else holder)

    def _spec(self, now: datetime, *, acquired: datetime, transitions: int) -> JSON:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self._duration)),
            "acquireTime": micro_time(acquired),
            "renewTime": micro_time(now),
            "leaderTransitions": transitions,
        }

    def _expired(self, spec: JSON, now: datetime) -> bool:
        renewed = parse_time(spec.get("renewTime"))
        duration = spec.get("leaseDurationSeconds")
        if renewed is None or not isinstance(duration, int):
            return True  # an unreadable record protects no one
        return renewed + timedelta(seconds=duration) < now

    def _won(self, *, taken_from: str | None) -> bool:
        self.holder = self.identity
        if not self._leading:
            self._leading = True
            log.info(
                "became leader",
                extra={"lease": str(self), "identity": self.identity, "from": taken_from or ""},
            )
        return True

    # ------------------------------------------------------------------------------ lifecycle

    async def acquire(self) -> None:
        """Return once this identity holds the lease (retrying every ``retry_period``, jittered)."""
        while True:
            if await self._attempt():
                return
            await asyncio.sleep(self._retry * (1 + _JITTER * self._rng()))

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except ApiError as err:
            log.warning("lease attempt failed", extra={"lease": str(self), "error": str(err)})
            return False

    async def _renew_until_lost(self, lost: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._retry)
            try:
                async with asyncio.timeout_at(loop.time() + self._deadline):
                    await self._retry_until_renewed()
            except TimeoutError:
                self._leading = False
                log.error(
                    "leadership lost: lease not renewed in time",
                    extra={"lease": str(self), "identity": self.identity, "holder": self.holder},
                )
                lost.set()
                return

    async def hold(self) -> None:
        """Renew until leadership is lost, then raise :class:`LeaseLostError` (after
        :meth:`acquire`; the caller stops its writers, usually by exiting)."""
        lost = asyncio.Event()
        await self._renew_until_lost(lost)
        raise LeaseLostError(f"lease {self}: lost (not renewed within {self._deadline}s)")

    async def _retry_until_renewed(self) -> None:
        while True:
            if await self._attempt():
                return
            await asyncio.sleep(self._retry)

    async def release(self) -> bool:
        """Give the lease up if this identity holds it: empty holder and a 1 s duration, so the
        next candidate takes it at once. True if released."""
        if not self._leading:
            return False
        self._leading = False
        path = lease_path(self.namespace, self.name)
        try:
            lease = await self._api.get(path)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return False
            now = micro_time(self._clock())
            lease["spec"] = {
                "leaseDurationSeconds": 1,
                "acquireTime": now,
                "renewTime": now,
                "leaderTransitions": spec.get("leaderTransitions") or 0,
            }
            await self._api.update(path, lease)
        except ApiError as err:
            log.warning("lease not released", extra={"lease": str(self), "error": str(err)})
            return False
        log.info("lease released", extra={"lease": str(self), "identity": self.identity})
        return True

    @contextlib.asynccontextmanager
    async def leadership(self) -> AsyncIterator[asyncio.Event]:
        """Acquire, then renew in the background; the event is set when leadership is lost.
        Leaving the block stops renewing and releases the lease (unless it was lost)."""
        await self.acquire()
        lost = asyncio.Event()
        renewer = asyncio.create_task(self._renew_until_lost(lost), name=f"lease-renew-{self}")
        try:
            yield lost
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            if not lost.is_set():
                try:
                    async with asyncio.timeout(self._deadline):
                        await self.release()
                except TimeoutError:
                    log.warning("lease not released in time", extra={"lease": str(self)})

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Wait for leadership, then run ``lead()`` until it returns (then release the lease).
        If leadership is lost first, ``lead`` is cancelled and :class:`LeaseLostError` raised:
        the caller should exit, as client-go's users do, and start over as a candidate."""

        async def leading() -> None:
            await lead()

        async with self.leadership() as lost:
            work = asyncio.create_task(leading(), name=f"leading-{self}")
            waiter = asyncio.create_task(lost.wait(), name=f"lease-lost-{self}")
            try:
                await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                work.cancel()
                waiter.cancel()
                await asyncio.gather(work, waiter, return_exceptions=True)
            if not lost.is_set():
                work.result()  # lead's own error, if any
                return
        raise LeaseLostError(
            f"{self}: {self.identity} lost leadership: not renewed within {self._deadline}s "
            f"(holder now {self.holder or 'unknown'})"
        )
