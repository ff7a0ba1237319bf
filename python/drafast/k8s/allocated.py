"""The claims allocated to one driver's devices, from the API server: the
:class:`drafast.driver.AllocatedClaims` port of a real cluster.

One list + watch of ``resource.k8s.io/v1`` ResourceClaims across all namespaces, as an informer
does it: list, watch from the list's resourceVersion, list again on 410 Gone, and after any other
error list again after a jittered backoff. Only claims with results of this driver (and, when
given, in its pools) are kept, resolved; what is yielded is the complete set, in
namespace/name order, and only when it changed -- a kept claim's object changing counts (status
included: a controller needs to see the conditions it wrote), unrelated claims do not.

A reader task applies events while the consumer works, so a slow consumer gets the latest set,
not a backlog of intermediate ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from drafast.errors import ClaimError
from drafast.k8s.errors import ApiError, GoneError
from drafast.k8s.paths import RESOURCE_V1
from drafast.runtime.backoff import Backoff
from drafast.types import JSON, DriverName

if TYPE_CHECKING:
    from drafast.driver import AllocatedClaims
    from drafast.k8s.api import KubeAPI  # annotations only: dir: runs never load it
    from drafast.types import Claim

log = logging.getLogger(__name__)

CLAIMS_PATH = f"/apis/{RESOURCE_V1}/resourceclaims"
"""Every namespace's ResourceClaims (list and watch)."""

ClaimKey = tuple[str, str]
"""(namespace, name)."""


def resolve_allocated(obj: JSON, driver: str, pools: Collection[str] | None) -> Claim | None:
    """``driver``'s part of the ResourceClaim ``obj`` (only devices in ``pools`` when given), or
    None when it has none. Raises :class:`ClaimError` naming the claim if it is malformed."""
    # The claim parser (and the claim types) loads with the first claim seen, not at start.
    from drafast.resourceapi.claim import allocated_to, claim_ref, resolve_claim

    if not allocated_to(obj, driver):
        return None
    claim = resolve_claim(obj, claim_ref(obj), driver)
    if pools is not None:
        devices = tuple(d for d in claim.devices if d.pool in pools)
        if devices != claim.devices:
            claim = dataclasses.replace(claim, devices=devices)
    return claim if claim.devices else None


def resolve_or_skip(obj: JSON, driver: str, pools: Collection[str] | None) -> Claim | None:
    """:func:`resolve_allocated`, with a malformed claim logged (one line naming it) and skipped:
    one bad object must not hide every other claim from the driver."""
    try:
        return resolve_allocated(obj, driver, pools)
    except ClaimError as err:
        log.error("malformed ResourceClaim skipped", extra={"error": str(err)})
        return None


def claim_key(obj: JSON) -> ClaimKey | None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return None
    ns, name = meta.get("namespace"), meta.get("name")
    return (ns, name) if isinstance(ns, str) and isinstance(name, str) else None


class ClaimSet:
    """The current kept claims by key, and an event set whenever they may have changed."""

    def __init__(self, driver: str, pools: Collection[str] | None) -> None:
        self.driver = driver
        self.pools = pools
        self.claims: dict[ClaimKey, Claim] = {}
        self.changed = asyncio.Event()

    def replace(self, objs: Iterable[JSON]) -> None:
        claims = {}
        for obj in objs:
            key = claim_key(obj)
            if key is not None and (claim := resolve_or_skip(obj, self.driver, self.pools)):
                claims[key] = claim
        self.claims = claims
        self.changed.set()

    def put(self, obj: JSON) -> None:
        key = claim_key(obj)
        if key is None:
            return
        claim = resolve_or_skip(obj, self.driver, self.pools)
        if claim is None:
            self.delete(obj)
        else:
            self.claims[key] = claim
            self.changed.set()

    def delete(self, obj: JSON) -> None:
        key = claim_key(obj)
        if key is not None and self.claims.pop(key, None) is not None:
            self.changed.set()

    def snapshot(self) -> tuple[Claim, ...]:
        return tuple(self.claims[k] for k in sorted(self.claims))


def same(a: Sequence[Claim], b: Sequence[Claim]) -> bool:
    """Equal claims and equal objects (``Claim`` equality leaves ``obj`` out)."""
    return len(a) == len(b) and all(x == y and x.obj == y.obj for x, y in zip(a, b, strict=True))


class KubeAllocatedClaims:
    """:class:`drafast.driver.AllocatedClaims` from the API server for ``driver``, optionally only
    for devices in ``pools`` (e.g. the composable controller's fabric pools, published under a
    vendor's driver name that node-local pools share). Needs list and watch on resourceclaims in
    every namespace."""

    def __init__(
        self,
        api: KubeAPI,
        driver: DriverName,
        *,
        pools: Collection[str] | None = None,
        backoff_initial_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
    ) -> None:
        self._api = api
        self._driver = driver
        self._pools = frozenset(pools) if pools is not None else None
        self._backoff = (backoff_initial_seconds, backoff_max_seconds)

    async def watch(self) -> AsyncIterator[Sequence[Claim]]:
        state = ClaimSet(self._driver, self._pools)
        reader = asyncio.create_task(self._follow(state), name=f"claims-watch-{self._driver}")
        try:
            last: tuple[Claim, ...] | None = None
            while True:
                await state.changed.wait()
                state.changed.clear()
                snap = state.snapshot()
                if last is None or not same(last, snap):
                    last = snap
                    yield snap
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _follow(self, state: ClaimSet) -> None:
        """List and watch until cancelled; never gives up (the API server may come back)."""
        backoff = Backoff(*self._backoff)
        while True:
            try:
                listed = await self._api.list(CLAIMS_PATH)
                state.replace(listed.get("items") or [])
                rv = str((listed.get("metadata") or {}).get("resourceVersion") or "")
                events = self._api.watch(CLAIMS_PATH, resource_version=rv)
                async with contextlib.aclosing(events):
                    async for event in events:
                        backoff.reset()
                        if event["type"] == "DELETED":
                            state.delete(event["object"])
                        else:
                            state.put(event["object"])
            except GoneError:
                log.info("ResourceClaim watch expired; listing again")
            except ApiError as err:
                delay = backoff.next()
                log.warning(
                    "ResourceClaim list/watch failed; retrying",
                    extra={"error": str(err), "delay_s": round(delay, 3)},
                )
                await asyncio.sleep(delay)


if TYPE_CHECKING:

    def _implements_allocated_claims(claims: KubeAllocatedClaims) -> AllocatedClaims:
        return claims  # mypy checks that KubeAllocatedClaims satisfies the protocol
