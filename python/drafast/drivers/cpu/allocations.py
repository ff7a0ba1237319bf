"""Which claim holds which CPUs: the in-memory face of the core's checkpoint (prepare records a
claim's CPUs in its ``PreparedClaim.state``; ``restore`` rebuilds this table from them).

Every method is synchronous, so a check and the take that follows it cannot interleave with
another prepare: no CPU is ever in two claims.
"""

from __future__ import annotations

from collections.abc import Mapping

from drafast.drivers.cpu.cpulist import format_cpulist
from drafast.errors import CpuAllocationError
from drafast.types import ClaimUID


class Allocations:
    def __init__(self, *, online: frozenset[int], reserved: frozenset[int]) -> None:
        self.online = online
        self.reserved = reserved
        self._claims: dict[ClaimUID, frozenset[int]] = {}
        self._owner: dict[int, ClaimUID] = {}

    @property
    def claims(self) -> Mapping[ClaimUID, frozenset[int]]:
        return self._claims

    @property
    def taken(self) -> frozenset[int]:
        return frozenset(self._owner)

    @property
    def free(self) -> frozenset[int]:
        """Online, not reserved, in no claim."""
        return self.online - self.reserved - self._owner.keys()

    def problems(self, uid: ClaimUID, cpus: frozenset[int]) -> list[str]:
        """Why ``cpus`` cannot go to claim ``uid`` (empty: they can)."""
        out = []
        if offline := cpus - self.online:
            out.append(f"CPUs {format_cpulist(offline)} are not online")
        if reserved := cpus & self.reserved:
            out.append(f"CPUs {format_cpulist(reserved)} are reserved")
        held: dict[ClaimUID, set[int]] = {}
        for cpu in cpus:
            owner = self._owner.get(cpu)
            if owner is not None and owner != uid:
                held.setdefault(owner, set()).add(cpu)
        out.extend(
            f"CPUs {format_cpulist(c)} are taken by claim {owner}" for owner, c in held.items()
        )
        return out

    def take(self, uid: ClaimUID, cpus: frozenset[int], *, what: str) -> None:
        """Give ``cpus`` to the claim, or raise :class:`CpuAllocationError` naming ``what``."""
        found = self.problems(uid, cpus)
        if found:
            raise CpuAllocationError(f"{what}: {'; '.join(found)}")
        self.release(uid)
        self._claims[uid] = cpus
        for cpu in cpus:
            self._owner[cpu] = uid

    def release(self, uid: ClaimUID) -> frozenset[int]:
        cpus = self._claims.pop(uid, frozenset())
        for cpu in cpus:
            if self._owner.get(cpu) == uid:
                del self._owner[cpu]
        return cpus

    def set_online(self, online: frozenset[int]) -> None:
        """CPUs came or went (hotplug); claims keep what they hold."""
        self.online = online
