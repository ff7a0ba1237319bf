"""Which prepared claims hold which accelerator: the driver's own check, beyond the scheduler's.

Exclusive mode: at most one claim per accelerator. Shared mode: the credits of all holders stay
within the published capacity. A claim that asks again (a kubelet retry) replaces its own hold.

The plugin checkpoint is the durable truth: the framework hands its claims back at start
(``restore``), and when a claim would be refused, holds that are not in it are dropped once they
are older than a grace period (a prepare that failed after the driver step -- CDI or checkpoint
write -- leaves a hold nobody will unprepare; a younger hold may belong to a prepare whose
checkpoint write is still in flight).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from drafast import _native
from drafast.errors import DrafastError
from drafast.state.store import CHECKPOINT_FILE
from drafast.types import ClaimRef, ClaimUID, DeviceName, PreparedClaim

log = logging.getLogger(__name__)

STATE_KEY = "holds"
"""Key of ``PreparedClaim.state``: ``{device name: credits}`` of the claim."""


@dataclass(frozen=True, slots=True)
class Hold:
    claim: ClaimRef
    credits: int
    since: float
    """Clock time of the prepare (restored holds: -inf, i.e. always old)."""


def checkpointed_claims(state_dir: Path) -> set[ClaimUID]:
    """Blocking, read-only: the UIDs in the plugin checkpoint (empty if there is none yet). The
    file is replaced by rename, so a read sees one whole version."""
    path = state_dir / CHECKPOINT_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    _, entries = _native.decode_checkpoint(data, str(path))
    return {ClaimUID(uid) for uid, _ in entries}


def holds_of(prepared: PreparedClaim) -> dict[DeviceName, int]:
    """``{device: credits}`` a prepared claim holds, from its driver state."""
    holds = prepared.state.get(STATE_KEY)
    if not isinstance(holds, dict):
        return {}
    return {DeviceName(str(d)): c for d, c in holds.items() if isinstance(c, int)}


class Holds:
    """In-memory holds; mutated only in short synchronous sections (no await inside)."""

    def __init__(
        self,
        *,
        state_dir: Path | None,
        stale_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state_dir = state_dir
        self.stale_after = stale_after
        self.clock = clock
        self._by_device: dict[DeviceName, dict[ClaimUID, Hold]] = {}

    def holders(self, device: DeviceName) -> Mapping[ClaimUID, Hold]:
        return self._by_device.get(device, {})

    def restore(self, ref: ClaimRef, holds: Mapping[DeviceName, int]) -> None:
        """A claim prepared before this process started (never considered stale)."""
        for device, credits in holds.items():
            self._by_device.setdefault(device, {})[ref.uid] = Hold(ref, credits, float("-inf"))

    def conflicts(
        self,
        ref: ClaimRef,
        wants: Mapping[DeviceName, int],
        capacity: Mapping[DeviceName, int | None],
        exclusive: bool,
    ) -> list[str]:
        """Why ``ref`` cannot hold ``wants`` now (empty: it can)."""
        problems = []
        for device, credits in wants.items():
            others = {u: h for u, h in self.holders(device).items() if u != ref.uid}
            if exclusive:
                if others:
                    holder = next(iter(others.values())).claim
                    problems.append(
                        f"device {device} is in use by {holder} and this node shares it with "
                        "no one (--nx-sharing exclusive)"
                    )
                continue
            limit = capacity.get(device)
            used = sum(h.credits for h in others.values())
            if limit is not None and used + credits > limit:
                problems.append(
                    f"device {device} has {limit - used} of {limit} credits left, "
                    f"the claim needs {credits} ({len(others)} other claims hold {used})"
                )
        return problems

    def drop_stale(self, checkpointed: set[ClaimUID]) -> int:
        """Drop holds not in the checkpoint and older than the grace period; how many."""
        now = self.clock()
        dropped = 0
        for holders in self._by_device.values():
            for uid, hold in list(holders.items()):
                if uid not in checkpointed and now - hold.since > self.stale_after:
                    del holders[uid]
                    dropped += 1
                    log.warning(
                        "dropped a hold of an unprepared claim",
                        extra={"claim": str(hold.claim)},
                    )
        return dropped

    def checkpointed_uids(self) -> set[ClaimUID] | None:
        """Blocking: the claims in the checkpoint, or None if it cannot be known."""
        if self.state_dir is None:
            return None
        try:
            return checkpointed_claims(self.state_dir)
        except (DrafastError, OSError) as err:
            log.error("cannot read the checkpoint to check holds", extra={"error": str(err)})
            return None

    def acquire(self, ref: ClaimRef, wants: Mapping[DeviceName, int]) -> None:
        self.release(ref.uid)
        now = self.clock()
        for device, credits in wants.items():
            self._by_device.setdefault(device, {})[ref.uid] = Hold(ref, credits, now)

    def release(self, uid: ClaimUID) -> None:
        for holders in self._by_device.values():
            holders.pop(uid, None)
