"""Which container runs on which CPUs: the policy behind :class:`drafast.driver.ContainerHooks`.

* A container whose environment carries ``DRA_CPUSET_<claimUID>=<cpulist>`` (the CDI edit of a
  claim this driver prepared) is pinned to the union of its claims' CPUs. The variable must
  name a claim prepared here and hold exactly its CPUs: a forged or stale one is refused.
* Every other container is *shared*. Running shared containers may use the *running pool*: the
  online CPUs minus the reserved ones minus the CPUs of every *active* claim (a claim with a live
  pinned container). A new shared container starts on the *shared pool*, which also leaves out
  the claims prepared but not active yet: containerd drops an update for a container that is
  still being created (it is not in its store yet), so a claim's CPUs are never handed to a
  container that the claim's own start might then fail to take them back from.
* The running pool changes only when a claim becomes active (its first container is created) or
  inactive (its last container stops). Both moments are runtime requests (CreateContainer,
  StopContainer), and the updates of the running shared containers ride on their replies, which
  the runtime applies itself. So released CPUs reach shared containers as soon as a claim's pod
  stops, with no unsolicited ``UpdateContainers`` (which can deadlock containerd with NRI <
  0.12.1) and without waiting for the next container to start (peer issue #279). A claim's CPUs
  stay its own until unprepare: only running shared containers borrow them while it has no
  container. (A claim unprepared without ever having a container gives nothing back at once:
  no runtime request follows; the next stop or Synchronize does.)
* Fail closed (peer #295): no container is ever sent an empty cpuset (the runtime would read it
  as "unchanged"); a pinning that would leave shared containers no CPU is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from drafast.drivers.cpu.allocations import Allocations
from drafast.drivers.cpu.cpulist import format_cpulist, parse_cpulist
from drafast.errors import CpuAllocationError, CpuListError
from drafast.types import ClaimUID, ContainerAdjustment, ContainerRef, ContainerUpdate

log = logging.getLogger(__name__)

ENV_PREFIX = "DRA_CPUSET_"


def claim_env(uid: ClaimUID, cpus: frozenset[int]) -> str:
    """The CDI environment edit of a prepared claim (KubeVirt reads it too)."""
    return f"{ENV_PREFIX}{uid}={format_cpulist(cpus)}"


@dataclass(slots=True, kw_only=True)
class Tracked:
    claims: frozenset[ClaimUID]
    """Empty for a shared container."""
    live: bool
    cpus: frozenset[int] | None
    """The cpuset it was last given or reported with (None: unknown)."""


def _name(c: ContainerRef) -> str:
    return f"container {c.pod_namespace}/{c.pod_name}/{c.name} ({c.id})"


class Pinning:
    def __init__(self, allocations: Allocations) -> None:
        self._alloc = allocations
        self._containers: dict[str, Tracked] = {}

    # ------------------------------------------------------------------ views

    def active_claims(self) -> set[ClaimUID]:
        return {u for t in self._containers.values() if t.live for u in t.claims}

    def running_pool(self) -> frozenset[int]:
        """What running shared containers may use: online - reserved - active claims' CPUs."""
        active = self.active_claims()
        busy = frozenset().union(*(c for uid, c in self._alloc.claims.items() if uid in active))
        return self._alloc.online - self._alloc.reserved - busy

    def shared_pool(self) -> frozenset[int]:
        """What a new shared container starts on: online - reserved - every prepared claim's
        CPUs (the running pool when that is empty)."""
        return self._alloc.free or self.running_pool()

    def live_shared(self) -> list[str]:
        return [i for i, t in self._containers.items() if t.live and not t.claims]

    def check_room(self, what: str, cpus: frozenset[int]) -> None:
        """Fail closed at prepare: refuse CPUs that would leave running shared containers none."""
        shared = self.live_shared()
        left = self._alloc.free - cpus
        if shared and not left:
            raise CpuAllocationError(
                f"{what}: taking CPUs {format_cpulist(cpus)} would leave no CPU for the "
                f"{len(shared)} running shared container(s)"
            )

    # ------------------------------------------------------------------ claims of a container

    def claims_of(self, c: ContainerRef) -> frozenset[ClaimUID]:
        """The claims a container's ``DRA_CPUSET_*`` variables name, each checked against what
        this driver prepared; raises :class:`CpuAllocationError` naming the container."""
        out = set()
        for key, value in c.env.items():
            if not key.startswith(ENV_PREFIX):
                continue
            uid = ClaimUID(key[len(ENV_PREFIX) :])
            held = self._alloc.claims.get(uid)
            if held is None:
                raise CpuAllocationError(
                    f"{_name(c)}: {key} names claim {uid!r}, which this driver has not prepared"
                )
            try:
                said = parse_cpulist(value)
            except CpuListError as err:
                raise CpuAllocationError(f"{_name(c)}: {key}: {err}") from err
            if said != held:
                raise CpuAllocationError(
                    f"{_name(c)}: {key}={value} does not match the claim's CPUs "
                    f"{format_cpulist(held)}"
                )
            out.add(uid)
        return frozenset(out)

    def _claims_cpus(self, claims: Iterable[ClaimUID]) -> frozenset[int]:
        return frozenset().union(*(self._alloc.claims.get(u, frozenset()) for u in claims))

    # ------------------------------------------------------------------ updates

    def _pool_updates(self, pool: frozenset[int], *, widen: bool) -> list[ContainerUpdate]:
        """Move live shared containers onto ``pool``: those with a CPU outside it (or unknown
        CPUs), and with ``widen`` every one not exactly on it."""
        if not pool:
            return []  # never an empty cpuset; the refusals above keep this from happening
        text = format_cpulist(pool)
        out = []
        for cid in self.live_shared():
            tracked = self._containers[cid]
            outside = tracked.cpus is None or not tracked.cpus <= pool
            if outside or (widen and tracked.cpus != pool):
                tracked.cpus = pool
                out.append(ContainerUpdate(container_id=cid, cpuset_cpus=text))
        return out

    # ------------------------------------------------------------------ hooks

    def synchronize(self, containers: Sequence[ContainerRef]) -> list[ContainerUpdate]:
        self._containers.clear()
        for c in containers:
            try:
                claims = self.claims_of(c)
            except CpuAllocationError as err:
                log.error("confining container to the shared pool", extra={"error": str(err)})
                claims = frozenset()
            current = _parse_current(c)
            self._containers[c.id] = Tracked(claims=claims, live=True, cpus=current)
        updates = []
        for cid, tracked in self._containers.items():
            if tracked.claims:
                want = self._claims_cpus(tracked.claims)
                if tracked.cpus != want:
                    tracked.cpus = want
                    updates.append(
                        ContainerUpdate(container_id=cid, cpuset_cpus=format_cpulist(want))
                    )
        pool = self.running_pool()
        if not pool and self.live_shared():
            log.error(
                "no CPU left for shared containers: they keep their cpusets",
                extra={"shared": len(self.live_shared())},
            )
        updates.extend(self._pool_updates(pool, widen=True))
        return updates

    def create(self, c: ContainerRef) -> ContainerAdjustment:
        claims = self.claims_of(c)
        if not claims:
            pool = self.shared_pool()
            if not pool:
                raise CpuAllocationError(
                    f"{_name(c)}: no CPU left for shared containers (every online CPU is "
                    "reserved or held by a running claim)"
                )
            self._containers[c.id] = Tracked(claims=claims, live=True, cpus=pool)
            return ContainerAdjustment(cpuset_cpus=format_cpulist(pool))
        cpus = self._claims_cpus(claims)
        before = self._containers.get(c.id)
        self._containers[c.id] = Tracked(claims=claims, live=True, cpus=cpus)
        pool = self.running_pool()
        if not pool and self.live_shared():
            if before is None:
                del self._containers[c.id]
            else:
                self._containers[c.id] = before
            raise CpuAllocationError(
                f"{_name(c)}: pinning CPUs {format_cpulist(cpus)} would leave no CPU for "
                f"the {len(self.live_shared())} running shared container(s)"
            )
        return ContainerAdjustment(
            cpuset_cpus=format_cpulist(cpus), updates=tuple(self._pool_updates(pool, widen=False))
        )

    def stopped(self, c: ContainerRef) -> list[ContainerUpdate]:
        tracked = self._containers.get(c.id)
        if tracked is None or not tracked.live:
            return []
        tracked.live = False
        if not tracked.claims or tracked.claims <= self.active_claims():
            return []  # a shared container, or its claims still have a live container
        return self._pool_updates(self.running_pool(), widen=True)

    def removed(self, c: ContainerRef) -> None:
        self._containers.pop(c.id, None)


def _parse_current(c: ContainerRef) -> frozenset[int] | None:
    try:
        return parse_cpulist(c.cpuset_cpus) if c.cpuset_cpus else None
    except CpuListError:
        return None
