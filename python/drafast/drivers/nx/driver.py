"""The NX-gzip driver: IBM Power compression accelerators, published per node and handed to
containers as the ``/dev/crypto/nx-gzip`` device node plus environment variables."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from drafast import _native
from drafast.drivers.nx.config import NxConfig, parse_config
from drafast.drivers.nx.holds import Holds
from drafast.drivers.nx.inventory import (
    DEFAULT_SHARES,
    DEVICE_PATH,
    Accelerator,
    Inventory,
    Sharing,
    inventory,
    probe_host,
)
from drafast.drivers.nx.settings import NxDriverSettings
from drafast.drivers.nx.state import NxClaimState
from drafast.errors import ClaimError, ConfigError, DeviceError
from drafast.resourceapi.quantity import Quantity
from drafast.types import (
    AllocatedDevice,
    Claim,
    ClaimRef,
    ContainerEdits,
    DeviceHealth,
    DeviceName,
    DeviceNode,
    DriverName,
    DriverResources,
    Health,
    NodeName,
    OpaqueConfig,
    Pool,
    PoolName,
    PreparedClaim,
    PreparedDevice,
    Slice,
)

log = logging.getLogger(__name__)

DEFAULT_DRIVER_NAME = DriverName("nx.drafast.dev")


def whole_quantity(value: str) -> int | None:
    """A Kubernetes quantity that is a whole number of at least 0 (``"2"``, ``"1k"``), else
    None."""
    try:
        whole = Quantity.parse(value).whole()
    except ConfigError:
        return None
    return whole if whole is not None and whole >= 0 else None


class NxDriver:
    """Implements :class:`drafast.driver.KubeletDriver`, :class:`drafast.driver.HealthSource` and
    :class:`drafast.driver.RestoringDriver`."""

    cdi_class = "nx"

    def __init__(
        self,
        settings: NxDriverSettings,
        *,
        node_name: NodeName,
        driver_name: DriverName = DEFAULT_DRIVER_NAME,
    ) -> None:
        if settings.max_shares is not None and settings.max_shares < 1:
            raise ConfigError(f"nx max shares {settings.max_shares}: must be at least 1")
        self.settings = settings
        self.node_name = node_name
        self.driver_name = driver_name
        self.pool = PoolName(node_name)
        self._inventory = Inventory(accelerators={}, reason="not probed yet")
        self._holds = Holds()
        self._logged: tuple[str, tuple[DeviceName, ...]] | None = None

    @property
    def name(self) -> DriverName:
        return self.driver_name

    @property
    def shared(self) -> bool:
        return self.settings.sharing is Sharing.SHARED

    # ------------------------------------------------------------------ probing and publishing

    async def _probe(self) -> Inventory:
        probe = await probe_host(self.settings.host_root)
        inv = inventory(probe, self.settings.sharing, self.settings.max_shares)
        self._inventory = inv
        self._log_inventory(inv, probe)
        return inv

    def _log_inventory(self, inv: Inventory, probe: _native.NxProbe) -> None:
        """One log line per change of what is found, not one per resync."""
        seen = (inv.reason, tuple(inv.accelerators))
        if seen == self._logged:
            return
        self._logged = seen
        root = str(self.settings.host_root)
        if inv.reason:
            log.warning(
                "no usable NX-gzip accelerator; publishing no devices",
                extra={"reason": inv.reason, "host_root": root},
            )
            return
        log.info(
            "NX-gzip accelerators found",
            extra={
                "platform": probe.platform,
                "devices": list(inv.accelerators),
                "host_root": root,
            },
        )
        probed = probe.vio.default_credits_total if probe.vio is not None else None
        if self.shared and self.settings.max_shares is None and probed is None:
            log.warning(
                "the probe reports no credits; publishing the default (set --nx-max-shares)",
                extra={"credits": DEFAULT_SHARES},
            )

    async def discover(self) -> DriverResources:
        inv = await self._probe()
        devices = tuple(a.device(self.settings.sharing) for a in inv.accelerators.values())
        pool = Pool(slices=(Slice(devices=devices),), node_name=self.node_name)
        return DriverResources(pools={self.pool: pool})

    async def health(self) -> Sequence[DeviceHealth]:
        published = self._inventory.accelerators
        if not published:
            return []
        try:
            probe = await probe_host(self.settings.host_root)
            now = inventory(probe, self.settings.sharing, self.settings.max_shares)
            problem = now.reason
        except DeviceError as err:
            now, problem = Inventory(accelerators={}, reason=str(err)), str(err)
        out = []
        for name, acc in published.items():
            cur = now.accelerators.get(name)
            if cur is None:
                health, msg = Health.UNHEALTHY, problem or f"{name} is no longer found"
            elif (cur.major, cur.minor) != (acc.major, acc.minor):
                health = Health.UNHEALTHY
                msg = (
                    f"device numbers changed from {acc.major}:{acc.minor} "
                    f"to {cur.major}:{cur.minor}"
                )
            else:
                health, msg = Health.HEALTHY, ""
            out.append(DeviceHealth(pool=self.pool, device=name, health=health, message=msg))
        return out

    # ------------------------------------------------------------------ prepare / unprepare

    def _configs(self, claim: Claim) -> list[tuple[OpaqueConfig, NxConfig]]:
        """Every opaque config of the claim, validated (one bad entry fails the claim)."""
        out = []
        for i, opaque in enumerate(claim.configs, 1):
            try:
                out.append((opaque, parse_config(opaque.parameters)))
            except ConfigError as err:
                raise ConfigError(
                    f"{claim.ref}: NxConfig {i} of {len(claim.configs)} ({opaque.source}): {err}"
                ) from err
        return out

    @staticmethod
    def _config_for(request: str, configs: list[tuple[OpaqueConfig, NxConfig]]) -> NxConfig:
        """The last config that applies to the request wins; none: the defaults."""
        applying = [cfg for opaque, cfg in configs if opaque.applies_to(request)]
        return applying[-1] if applying else NxConfig()

    async def _accelerators(self, claim: Claim) -> list[Accelerator]:
        for alloc in claim.devices:
            if alloc.pool != self.pool:
                raise DeviceError(
                    f"{claim.ref}: device {alloc.pool}/{alloc.device} is not in this node's "
                    f"pool {self.pool}"
                )
        if any(a.device not in self._inventory.accelerators for a in claim.devices):
            await self._probe()  # published by an earlier process, or the hardware came back
        found = []
        for alloc in claim.devices:
            acc = self._inventory.accelerators.get(alloc.device)
            if acc is None:
                why = f": {self._inventory.reason}" if self._inventory.reason else ""
                raise DeviceError(
                    f"{claim.ref}: device {alloc.device} is not an NX-gzip accelerator of this "
                    f"node{why}"
                )
            found.append(acc)
        return found

    def _credits(self, claim: Claim, alloc: AllocatedDevice) -> int:
        """Shared mode: the credits the scheduler gave this result (its request policy default,
        1, if the result names none)."""
        raw = alloc.consumed_capacity.get("credits")
        if raw is None:
            return 1
        credits = whole_quantity(str(raw))
        if credits is None or credits < 1:
            raise ClaimError(
                f"{claim.ref}: request {alloc.request}: consumed capacity credits={raw!r} is "
                "not a whole number of at least 1"
            )
        return credits

    def _edits(self, acc: Accelerator, config: NxConfig, credits: int) -> ContainerEdits:
        root = self.settings.host_root
        host_path = None if root == Path("/") else str(root / DEVICE_PATH.lstrip("/"))
        env = [f"NX_DEVICE={acc.name}", f"NX_DEVICE_PATH={DEVICE_PATH}", *config.env()]
        if acc.chip_id is not None:
            env.append(f"NX_CHIP_ID={acc.chip_id}")
        if self.shared:
            env.append(f"NX_DEVICE_CREDITS={credits}")
        node = DeviceNode(
            path=DEVICE_PATH,
            host_path=host_path,
            type="c",
            major=acc.major,
            minor=acc.minor,
            file_mode=0o666,
            permissions="rw",
        )
        return ContainerEdits(env=tuple(env), device_nodes=(node,))

    def _hold(self, ref: ClaimRef, wants: dict[DeviceName, int]) -> None:
        """Take the accelerators for the claim, or fail it: exclusive mode admits one claim per
        accelerator, shared mode no more credits than published. Synchronous: no other prepare
        can slip in between the check and the hold."""
        capacity = {n: a.credits for n, a in self._inventory.accelerators.items()}
        found = self._holds.conflicts(ref, wants, capacity, exclusive=not self.shared)
        if found:
            raise DeviceError(f"{ref}: {'; '.join(found)}")
        self._holds.acquire(ref, wants)

    async def prepare(self, claim: Claim) -> PreparedClaim:
        configs = self._configs(claim)
        accelerators = await self._accelerators(claim)
        wants: dict[DeviceName, int] = {}
        devices = []
        for alloc, acc in zip(claim.devices, accelerators, strict=True):
            credits = self._credits(claim, alloc) if self.shared else 0
            if not alloc.admin_access:  # admin access (monitoring) uses a device in use anyway
                wants[acc.name] = wants.get(acc.name, 0) + credits
            devices.append(
                PreparedDevice(
                    requests=(alloc.request,),
                    pool=alloc.pool,
                    device=alloc.device,
                    edits=self._edits(acc, self._config_for(alloc.request, configs), credits),
                    share_id=alloc.share_id,
                )
            )
        self._hold(claim.ref, wants)
        state = NxClaimState(holds=wants, sharing=self.settings.sharing)
        return PreparedClaim(devices=tuple(devices), state=state.to_json())

    async def unprepare(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        self._holds.release(ref.uid)

    async def restore(self, prepared: Sequence[tuple[ClaimRef, PreparedClaim]]) -> None:
        """At start: the claims prepared before a restart hold their accelerators again."""
        for ref, claim in prepared:
            self._holds.restore(ref, NxClaimState.from_json(claim.state).holds)
