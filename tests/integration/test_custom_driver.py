"""The README's "Writing a driver" example, run as written: a few dozen lines get registration,
both DRAPlugin versions, claim checks, the checkpoint and per-claim CDI specs from the framework."""

from pathlib import Path

import orjson
import pytest

from drafast.testing import allocated_claim, plugin_options, running_plugin
from drafast.types import (
    Claim,
    ClaimRef,
    ContainerEdits,
    Device,
    DeviceName,
    DriverName,
    DriverResources,
    NodeName,
    Pool,
    PoolName,
    PreparedClaim,
    PreparedDevice,
    Slice,
)

pytestmark = pytest.mark.integration


class EchoDriver:
    name = DriverName("echo.example.com")
    cdi_class = "echo"

    def __init__(self, node: str) -> None:
        self.node = node

    async def discover(self) -> DriverResources:
        devices = tuple(
            Device(name=DeviceName(f"echo-{i}"), attributes={"index": i}) for i in range(4)
        )
        return DriverResources(
            pools={
                PoolName(self.node): Pool(
                    slices=(Slice(devices=devices),), node_name=NodeName(self.node)
                )
            }
        )

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


async def test_the_readme_driver_works_end_to_end(tmp_path: Path) -> None:
    opts = plugin_options(tmp_path, driver_name="echo.example.com")
    async with running_plugin(opts, EchoDriver("node-1")) as t:
        [sl] = [o for _, o in t.store.list("resourceslices")]
        assert [d["name"] for d in sl["spec"]["devices"]] == [f"echo-{i}" for i in range(4)]
        obj = allocated_claim(
            namespace="ns",
            name="c",
            driver="echo.example.com",
            devices=[("a", "node-1", "echo-1"), ("b/sub", "node-1", "echo-3")],
        )
        ref = t.add_claim(obj)
        res = (await t.kubelet.prepare([ref]))[ref.uid]
        assert res.error == ""
        assert [(d.device, d.request_names) for d in res.devices] == [
            ("echo-1", ("a",)),
            ("echo-3", ("b",)),
        ]
        spec = orjson.loads(t.plugin.cdi.path(ref.uid).read_bytes())
        assert spec["kind"] == "k8s.echo.example.com/echo"
        assert [d["containerEdits"]["env"] for d in spec["devices"]] == [
            ["ECHO_DEVICE=echo-1"],
            ["ECHO_DEVICE=echo-3"],
        ]
        assert (await t.kubelet.unprepare([ref]))[ref.uid].error == ""
        assert not t.plugin.cdi.path(ref.uid).exists()
