"""Which prepared claims hold which accelerator: the driver's own check, beyond the scheduler's.

Exclusive mode: at most one claim per accelerator. Shared mode: the credits of all holders stay
within the published capacity. A claim that asks again (a kubelet retry) replaces its own hold.

Holds live in memory only. The framework keeps them true: it hands the checkpointed claims back
at start (``restore``), and when a prepare cannot be checkpointed it calls ``unprepare``, which
releases the hold (the core owns rollback), so no hold outlives its claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from drafast.types import ClaimRef, ClaimUID, DeviceName


@dataclass(frozen=True, slots=True)
class Hold:
    claim: ClaimRef
    credits: int


class Holds:
    """In-memory holds; mutated only in short synchronous sections (no await inside)."""

    def __init__(self) -> None:
        self._by_device: dict[DeviceName, dict[ClaimUID, Hold]] = {}

    def holders(self, device: DeviceName) -> Mapping[ClaimUID, Hold]:
        return self._by_device.get(device, {})

    def restore(self, ref: ClaimRef, holds: Mapping[DeviceName, int]) -> None:
        """A claim prepared before this process started."""
        self.acquire(ref, holds)

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

    def acquire(self, ref: ClaimRef, wants: Mapping[DeviceName, int]) -> None:
        self.release(ref.uid)
        for device, credits in wants.items():
            self._by_device.setdefault(device, {})[ref.uid] = Hold(ref, credits)

    def release(self, uid: ClaimUID) -> None:
        for holders in self._by_device.values():
            holders.pop(uid, None)
