from dataclasses import dataclass

from drafast.config import setting
from drafast.driver import DriverContext, DriverKind
from drafast.types import (
    Claim,
    ClaimRef,
    ContainerEdits,
    Device,
    DeviceName,
    DriverName,
    DriverResources,
    Pool,
    PoolName,
    PreparedClaim,
    PreparedDevice,
    Slice,
)


@dataclass(frozen=True, kw_only=True)
class EchoSettings:
    devices: int = setting(4, flag="--echo-devices", env="ECHO_DEVICES", help="devices to publish")


class EchoDriver:
    cdi_class = "echo"

    def __init__(self, settings: EchoSettings, ctx: DriverContext) -> None:
        self.name, self.node, self.count = ctx.driver_name, ctx.node_name or "", settings.devices

    async def discover(self) -> DriverResources:
        devices = tuple(
            Device(name=DeviceName(f"echo-{i}"), attributes={"index": i}) for i in range(self.count)
        )
        pool = Pool(slices=(Slice(devices=devices),), node_name=self.node)
        return DriverResources(pools={PoolName(self.node): pool})

    async def prepare(self, claim: Claim) -> PreparedClaim:
        return PreparedClaim(
            devices=tuple(
                PreparedDevice(
                    requests=(d.request,),
                    pool=d.pool,
                    device=d.device,
                    edits=ContainerEdits(env=(f"ECHO_DEVICE={d.device}",)),
                )
                for d in claim.devices
            )
        )

    async def unprepare(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        pass  # nothing to undo


KIND = DriverKind(
    name="echo",
    default_driver_name=DriverName("echo.example.com"),
    settings=EchoSettings,
    build=EchoDriver,
)
