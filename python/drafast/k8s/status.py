"""Writing this driver's entries of a ResourceClaim's ``status.devices`` (KEP-4817).

Entries are keyed by driver + pool + device (+ shareID), conditions by type -- the API's own
list-map keys. A write changes only the entries of this driver it names: other drivers' entries
and this driver's other entries and conditions stay as they are. ``lastTransitionTime`` moves only
when a condition's status changes, so binding-condition waiters (KEP-5007) see real transitions.

Writes go to the ``/status`` subresource as a PUT of the object just read: its resourceVersion
(and uid) make the API server refuse it if anything changed in between; then the claim is read
again and the change re-applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from drafast.errors import ClaimError, ClaimNotFoundError
from drafast.k8s.errors import ConflictError, NotFoundError
from drafast.k8s.paths import claim_path
from drafast.types import JSON, ClaimRef, DriverName

if TYPE_CHECKING:
    from drafast.driver import ClaimStatusSink
    from drafast.k8s.api import KubeAPI  # annotations only: dir: runs never load it
    from drafast.types import DeviceKey, DeviceStatus, NetworkData

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class ClaimStatusWriter:
    """Writes one driver's ``status.devices`` entries of ResourceClaims."""

    def __init__(
        self,
        api: KubeAPI,
        driver: DriverName,
        *,
        clock: Callable[[], datetime] = _now,
        max_conflicts: int = 5,
    ) -> None:
        self._api = api
        self._driver = driver
        self._clock = clock
        self._max_conflicts = max_conflicts

    async def set(self, ref: ClaimRef, devices: Iterable[DeviceStatus]) -> bool:
        """Create or update the entries of ``devices``; True if the claim was written.

        Raises :class:`ClaimError` if the claim is not allocated or a device is not one of its
        results for this driver (the API server would refuse the entry), and
        :class:`ClaimNotFoundError` if the claim is gone or was replaced (another UID).
        """
        updates = list(devices)

        def change(claim: JSON, current: list[JSON]) -> list[JSON]:
            check_allocated(ref, claim, self._driver, updates)
            now = condition_time(self._clock())
            return merge_device_statuses(current, self._driver, updates, now)

        return await self._modify(ref, change)

    async def remove(self, ref: ClaimRef, keys: Iterable[DeviceKey] | None = None) -> bool:
        """Remove this driver's entries for ``keys`` (all of this driver's when None)."""
        drop = None if keys is None else frozenset(keys)

        def change(claim: JSON, current: list[JSON]) -> list[JSON]:
            return remove_device_statuses(current, self._driver, drop)

        return await self._modify(ref, change)

    async def _modify(
        self, ref: ClaimRef, change: Callable[[JSON, list[JSON]], list[JSON]]
    ) -> bool:
        path = claim_path(ref.namespace, ref.name)
        for attempt in range(1, self._max_conflicts + 1):
            try:
                claim = await self._api.get(path)
            except NotFoundError as err:
                raise ClaimNotFoundError(f"{ref}: not found in the API server") from err
            uid = claim.get("metadata", {}).get("uid")
            if uid != ref.uid:
                raise ClaimNotFoundError(f"{ref}: replaced by a claim with UID {uid}")
            if not apply_device_change(claim, change):
                return False
            try:
                await self._api.update(f"{path}/status", claim)
            except ConflictError:
                if attempt == self._max_conflicts:
                    raise
                log.debug(
                    "claim changed while writing its status; retrying", extra={"claim": str(ref)}
                )
                continue
            except NotFoundError as err:
                raise ClaimNotFoundError(f"{ref}: not found in the API server") from err
            return True
        raise AssertionError("unreachable")  # the loop returns or raises


if TYPE_CHECKING:

    def _implements_claim_status_sink(writer: ClaimStatusWriter) -> ClaimStatusSink:
        return writer  # mypy checks that ClaimStatusWriter satisfies the protocol


def condition_time(now: datetime) -> str:
    """``lastTransitionTime`` as ``metav1.Time`` spells it (RFC 3339, whole seconds, UTC)."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_allocated(
    ref: ClaimRef, claim: JSON, driver: str, updates: Iterable[DeviceStatus]
) -> None:
    """Raise :class:`ClaimError` unless every update is for a device allocated to the claim by
    ``driver``: the API server refuses status entries for other devices."""
    from drafast.types import DeviceKey  # with the first status write, not at start

    allocation = (claim.get("status") or {}).get("allocation")
    if not allocation:
        raise ClaimError(f"{ref}: not allocated; no device status to write")
    try:
        results = (allocation.get("devices") or {}).get("results") or []
        allocated = frozenset(
            DeviceKey(pool=r["pool"], device=r["device"], share_id=r.get("shareID"))
            for r in results
            if r.get("driver") == driver
        )
    except (AttributeError, KeyError, TypeError) as err:
        raise ClaimError(f"{ref}: malformed status.allocation.devices.results") from err
    for update in updates:
        if update.key not in allocated:
            raise ClaimError(
                f"{ref}: device {update.pool}/{update.device} is not allocated to it "
                f"by driver {driver}; cannot write its status"
            )


def remove_device_statuses(
    current: Sequence[JSON], driver: str, keys: Collection[DeviceKey] | None
) -> list[JSON]:
    """``current`` without ``driver``'s entries for ``keys`` (all of its entries when None)."""
    return [
        e
        for e in current
        if e.get("driver") != driver or (keys is not None and _entry_key(e) not in keys)
    ]


def apply_device_change(claim: JSON, change: Callable[[JSON, list[JSON]], list[JSON]]) -> bool:
    """Apply ``change`` to ``claim``'s ``status.devices`` in place; False if it changed nothing
    (no write needed). An emptied list is dropped, as the API server stores it."""
    status: JSON = claim.setdefault("status", {})
    current: list[JSON] = status.get("devices") or []
    new = change(claim, current)
    if new == current:
        return False
    if new:
        status["devices"] = new
    else:
        status.pop("devices", None)
    return True


def merge_device_statuses(
    current: Sequence[JSON], driver: str, updates: Iterable[DeviceStatus], now: str
) -> list[JSON]:
    """``current`` with ``updates`` applied (new entries appended, order kept); ``now`` is the
    RFC 3339 time for conditions whose status changes. Pure: ``current`` is not modified."""
    entries = [dict(e) for e in current]
    index = {(e.get("driver"), _entry_key(e)): i for i, e in enumerate(entries)}
    for update in updates:
        i = index.get((driver, update.key))
        if i is None:
            entry: JSON = {"driver": driver, "pool": update.pool, "device": update.device}
            if update.share_id is not None:
                entry["shareID"] = update.share_id
            index[(driver, update.key)] = i = len(entries)
            entries.append(entry)
        entry = entries[i]
        if update.conditions:
            entry["conditions"] = _merge_conditions(entry.get("conditions") or [], update, now)
        if update.data is not None:
            entry["data"] = dict(update.data)
        if update.network_data is not None:
            entry["networkData"] = network_data_json(update.network_data)
    return entries


def _merge_conditions(current: Sequence[JSON], update: DeviceStatus, now: str) -> list[JSON]:
    conditions = [dict(c) for c in current]
    by_type = {c.get("type"): c for c in conditions}
    for cond in update.conditions:
        old = by_type.get(cond.type)
        new: JSON = {
            "type": cond.type,
            "status": cond.status,
            "reason": cond.reason,
            "message": cond.message,
            "lastTransitionTime": (
                old["lastTransitionTime"]
                if old and old.get("status") == cond.status and old.get("lastTransitionTime")
                else now
            ),
        }
        if cond.observed_generation is not None:
            new["observedGeneration"] = cond.observed_generation
        if old is None:
            conditions.append(new)
            by_type[cond.type] = new
        else:
            old.clear()
            old.update(new)
    return conditions


def _entry_key(entry: JSON) -> DeviceKey:
    from drafast.types import DeviceKey

    return DeviceKey(
        pool=str(entry.get("pool")), device=str(entry.get("device")), share_id=entry.get("shareID")
    )


def network_data_json(net: NetworkData) -> JSON:
    """``NetworkDeviceData`` as the API spells it (empty fields left out)."""
    out: JSON = {}
    if net.interface_name:
        out["interfaceName"] = net.interface_name
    if net.ips:
        out["ips"] = list(net.ips)
    if net.hardware_address:
        out["hardwareAddress"] = net.hardware_address
    return out
