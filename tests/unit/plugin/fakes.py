"""The scripted claim source and drivers the plugin core tests share (no sockets)."""

import asyncio
from collections.abc import Sequence
from pathlib import Path

from drafast.cdi import ClaimSpecWriter
from drafast.config import PluginSettings
from drafast.errors import ClaimNotFoundError, DeviceError
from drafast.k8s import allocated_claim
from drafast.plugin import PluginCore
from drafast.runtime.iojobs import IoJobs
from drafast.state import ClaimStore
from drafast.types import (
    JSON,
    Claim,
    ClaimRef,
    ClaimUID,
    ContainerEdits,
    DriverName,
    DriverResources,
    PreparedClaim,
    PreparedDevice,
)

DRIVER = "t.example.com"


class Source:
    def __init__(self) -> None:
        self.objs: dict[str, JSON] = {}
        self.gets = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def add(self, name: str, **kw) -> ClaimRef:  # type: ignore[no-untyped-def]
        obj = allocated_claim(
            namespace="ns",
            name=name,
            driver=DRIVER,
            devices=kw.pop("devices", [("r/sub", "node", "d0")]),
            **kw,
        )
        self.objs[name] = obj
        return ClaimRef(namespace="ns", name=name, uid=ClaimUID(obj["metadata"]["uid"]))

    async def get_claim(self, ref: ClaimRef) -> JSON:
        self.gets += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        if ref.name not in self.objs:
            raise ClaimNotFoundError(f"{ref}: not found")
        return self.objs[ref.name]


class Driver:
    name = DriverName(DRIVER)
    cdi_class = "t"

    def __init__(self) -> None:
        self.prepared: list[str] = []
        self.unprepared: list[str] = []
        self.active = 0
        self.max_active = 0
        self.fail: set[str] = set()
        self.delay = 0.01

    async def discover(self) -> DriverResources:
        return DriverResources(pools={})

    async def prepare(self, claim: Claim) -> PreparedClaim:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.delay)
            if claim.ref.name in self.fail:
                raise DeviceError(f"{claim.ref}: device is on fire")
            if claim.ref.name == "boom":
                raise RuntimeError("bug")
            self.prepared.append(claim.ref.name)
            return PreparedClaim(
                devices=tuple(
                    PreparedDevice(
                        requests=(d.request,),
                        pool=d.pool,
                        device=d.device,
                        edits=ContainerEdits(env=(f"DEV={d.device}",)),
                    )
                    for d in claim.devices
                ),
                state={"n": 1},
            )
        finally:
            self.active -= 1

    async def unprepare(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        assert prepared.state == {"n": 1}
        self.unprepared.append(ref.name)


class Restoring(Driver):
    """The same driver, rebuilding from the checkpoint: the core overlaps its unprepare with the
    removal of the record."""

    def __init__(self) -> None:
        super().__init__()
        self.restored: list[list[str]] = []

    async def restore(self, prepared: Sequence[tuple[ClaimRef, PreparedClaim]]) -> None:
        self.restored.append([ref.name for ref, _ in prepared])


def make_core(
    tmp_path: Path,
    io: IoJobs,
    serialize: bool = False,
    *,
    restoring: bool = False,
    driver: Driver | None = None,
) -> tuple[PluginCore, Source, Driver]:
    settings = PluginSettings(
        driver_name=DriverName(DRIVER),
        serialize=serialize,
        max_claims_per_call=100,
    )
    src = Source()
    drv = driver or (Restoring() if restoring else Driver())
    core = PluginCore(
        settings,
        drv,
        src,
        ClaimStore(tmp_path, io=io),
        ClaimSpecWriter(tmp_path / "cdi", DRIVER, "t"),
    )
    return core, src, drv


def break_commits(core: PluginCore, tmp_path: Path, io: IoJobs) -> Path:
    """Give ``core`` a store whose commits fail (its directory is gone, so the journal cannot
    be created); returns that directory: making it again lets commits through."""
    state = tmp_path / "state"
    state.mkdir()
    core.store = ClaimStore(state, io=io)
    state.rmdir()
    return state
