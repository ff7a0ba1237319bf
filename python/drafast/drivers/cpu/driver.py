"""The CPU driver: publishes CPU devices, gives claims exclusive CPUs at prepare, and pins
containers through the runtime's hooks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from drafast import _native
from drafast.drivers.cpu.allocations import Allocations
from drafast.drivers.cpu.config import CpuConfig, parse_config
from drafast.drivers.cpu.cpulist import format_cpulist, parse_cpulist
from drafast.drivers.cpu.devices import Layout, build_layout, capacity_key
from drafast.drivers.cpu.pinning import Pinning, claim_env
from drafast.drivers.cpu.settings import CpuDriverSettings, DeviceMode, GroupBy
from drafast.drivers.cpu.state import CpuClaimState
from drafast.drivers.cpu.topology import CpuTopology, read_topology
from drafast.errors import ClaimError, ConfigError, CpuAllocationError, DeviceError
from drafast.resourceapi.quantity import Quantity
from drafast.types import (
    AllocatedDevice,
    Claim,
    ClaimRef,
    ConfigSource,
    ContainerAdjustment,
    ContainerEdits,
    ContainerRef,
    ContainerUpdate,
    DriverName,
    DriverResources,
    NodeName,
    Pool,
    PoolName,
    PreparedClaim,
    PreparedDevice,
    Slice,
)

log = logging.getLogger(__name__)

DEFAULT_DRIVER_NAME = DriverName("cpu.drafast.dev")


class CpuDriver:
    """Implements :class:`drafast.driver.KubeletDriver`, :class:`drafast.driver.RestoringDriver`
    and :class:`drafast.driver.ContainerHooks`."""

    cdi_class = "cpu"

    def __init__(
        self,
        settings: CpuDriverSettings,
        *,
        node_name: NodeName,
        driver_name: DriverName = DEFAULT_DRIVER_NAME,
        topology: CpuTopology | None = None,
    ) -> None:
        self.settings = settings
        self.node_name = node_name
        self.driver_name = driver_name
        self.pool = PoolName(node_name)
        self.reserved = settings.reserved
        self._topology: CpuTopology | None = None
        self._native: _native.CpuTopology | None = None
        self._layout: Layout | None = None
        self.allocations = Allocations(online=frozenset(), reserved=self.reserved)
        self.pinning = Pinning(self.allocations)
        self._read_lock = asyncio.Lock()
        if topology is not None:
            self._use(topology)

    @property
    def name(self) -> DriverName:
        return self.driver_name

    # ------------------------------------------------------------------ topology and devices

    def _use(self, topo: CpuTopology) -> None:
        online = frozenset(topo.cpus)
        if unknown := self.reserved - online:
            log.warning(
                "reserved CPUs that are not online are ignored",
                extra={"reserved": format_cpulist(unknown)},
            )
        self._topology = topo
        self._native = _native.CpuTopology(*topo.arrays())
        self._layout = build_layout(
            topo,
            self.reserved,
            driver=self.driver_name,
            mode=self.settings.cpu_device_mode,
            group_by=self.settings.group_by,
        )
        self.allocations.set_online(online)

    async def _ensure_topology(self) -> tuple[CpuTopology, _native.CpuTopology, Layout]:
        """The topology, read once (the first caller reads, concurrent ones wait for it); every
        prepare and container hook calls this, so the read case takes no lock."""
        if self._topology is not None and self._native is not None and self._layout is not None:
            return self._topology, self._native, self._layout
        async with self._read_lock:
            if self._topology is None:
                topo = await asyncio.to_thread(read_topology, self.settings.host_root)
                self._use(topo)
                log.info(
                    "CPU topology read",
                    extra={
                        "cpus": len(topo.cpus),
                        "smt": topo.smt_enabled,
                        "devices": len(self._layout.devices) if self._layout else 0,
                    },
                )
        assert self._topology is not None and self._native is not None
        assert self._layout is not None
        return self._topology, self._native, self._layout

    async def discover(self) -> DriverResources:
        _, _, layout = await self._ensure_topology()
        pool = Pool(slices=(Slice(devices=layout.devices),), node_name=self.node_name)
        return DriverResources(pools={self.pool: pool})

    # ------------------------------------------------------------------ prepare / unprepare

    def _config(self, claim: Claim, alloc: AllocatedDevice) -> CpuConfig:
        """The claim's config for this result (the last that applies wins); a malformed one
        fails the claim."""
        applying = [c for c in claim.configs if c.applies_to(alloc.request)]
        if not applying:
            return CpuConfig()
        opaque = applying[-1]
        try:
            config = parse_config(opaque.parameters)
        except ConfigError as err:
            raise ConfigError(f"{claim.ref}: opaque config ({opaque.source}): {err}") from err
        if config.cpuset is not None and opaque.source is not ConfigSource.CLAIM:
            raise ConfigError(
                f"{claim.ref}: cpuConfig.cpuset may come only from the claim, not the DeviceClass"
            )
        return config

    def _count(self, claim: Claim, alloc: AllocatedDevice) -> int:
        key = capacity_key(self.driver_name)
        raw = alloc.consumed_capacity.get(key, alloc.consumed_capacity.get("cpu"))
        count = None
        if raw is not None:
            try:
                count = Quantity.parse(str(raw)).whole()
            except ConfigError:
                count = None
        if count is None or count < 1:
            raise ClaimError(
                f"{claim.ref}: request {alloc.request}: consumed capacity {key}={raw!r} is not "
                "a whole number of CPUs of at least 1"
            )
        return count

    def _pick(
        self,
        claim: Claim,
        alloc: AllocatedDevice,
        native: _native.CpuTopology,
        layout: Layout,
        unavailable: frozenset[int],
    ) -> frozenset[int]:
        """The CPUs for one allocation result (not yet taken)."""
        what = f"{claim.ref}: request {alloc.request}: device {alloc.device}"
        if alloc.pool != self.pool:
            raise DeviceError(f"{what}: not in this node's pool {self.pool}")
        group = layout.cpus.get(alloc.device)
        if group is None:
            raise DeviceError(f"{what}: not a CPU device of this node")
        config = self._config(claim, alloc)
        if layout.mode is DeviceMode.INDIVIDUAL:
            return group
        count = self._count(claim, alloc)
        if layout.group_by is GroupBy.MACHINE:
            if config.cpuset is None:
                raise ConfigError(
                    f"{what}: machine mode needs the CPUs in the claim's opaque config "
                    "(cpuConfig.cpuset)"
                )
            if len(config.cpuset) != count:
                raise CpuAllocationError(
                    f"{what}: cpuConfig.cpuset {format_cpulist(config.cpuset)} has "
                    f"{len(config.cpuset)} CPUs, the allocation {count}"
                )
            return config.cpuset
        free = (group & self.allocations.free) - unavailable
        full = self.settings.full_cores if config.full_cores is None else config.full_cores
        spread = self.settings.spread_numa if config.spread_numa is None else config.spread_numa
        try:
            picked = _native.cpuset_take(
                native, format_cpulist(free), count, spread_numa=spread, full_cores=full
            )
        except CpuAllocationError as err:
            raise CpuAllocationError(f"{what}: {err}") from err
        return parse_cpulist(picked)

    async def prepare(self, claim: Claim) -> PreparedClaim:
        _, native, layout = await self._ensure_topology()
        # From here on nothing awaits: the pick, the checks and the take see one state.
        cpus: set[int] = set()
        devices = []
        for alloc in claim.devices:
            if alloc.admin_access:
                raise ClaimError(f"{claim.ref}: admin access to CPU devices is not supported")
            picked = self._pick(claim, alloc, native, layout, frozenset(cpus))
            if overlap := picked & cpus:
                raise CpuAllocationError(
                    f"{claim.ref}: request {alloc.request}: CPUs "
                    f"{format_cpulist(overlap)} are already in another request of the claim"
                )
            cpus |= picked
            devices.append(alloc)
        held = frozenset(cpus)
        if held:
            self.pinning.check_room(str(claim.ref), held)
            self.allocations.take(claim.ref.uid, held, what=str(claim.ref))
        env = (claim_env(claim.ref.uid, held),) if held else ()
        prepared = tuple(
            PreparedDevice(
                requests=(alloc.request,),
                pool=alloc.pool,
                device=alloc.device,
                edits=ContainerEdits(env=env if i == 0 else ()),
                share_id=alloc.share_id,
            )
            for i, alloc in enumerate(devices)
        )
        return PreparedClaim(devices=prepared, state=CpuClaimState(cpus=held).to_json())

    async def unprepare(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        # Nothing to send the runtime: the claim's containers stopped before (the kubelet
        # unprepares after them) and their stop already lent its CPUs to the shared containers.
        self.allocations.release(ref.uid)

    async def restore(self, prepared: Sequence[tuple[ClaimRef, PreparedClaim]]) -> None:
        """At start: the claims prepared before a restart hold their CPUs again."""
        await self._ensure_topology()
        for ref, claim in prepared:
            cpus = CpuClaimState.from_json(claim.state).cpus
            try:
                self.allocations.take(ref.uid, cpus, what=str(ref))
            except CpuAllocationError as err:
                log.error("a checkpointed claim cannot hold its CPUs", extra={"error": str(err)})

    # ------------------------------------------------------------------ container hooks

    async def synchronize(self, containers: Sequence[ContainerRef]) -> Sequence[ContainerUpdate]:
        await self._ensure_topology()
        return self.pinning.synchronize(containers)

    async def create(self, container: ContainerRef) -> ContainerAdjustment:
        await self._ensure_topology()
        return self.pinning.create(container)

    async def update(self, container: ContainerRef) -> Sequence[ContainerUpdate]:
        return ()

    async def stopped(self, container: ContainerRef) -> Sequence[ContainerUpdate]:
        return self.pinning.stopped(container)

    async def removed(self, container: ContainerRef) -> None:
        self.pinning.removed(container)
