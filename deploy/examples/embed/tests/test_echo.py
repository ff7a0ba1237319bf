"""The example driver through drafast's public test kit: real sockets, a kubelet stand-in."""

from pathlib import Path

from echo_driver import KIND

from drafast.testing import allocated_claim, plugin_options, running_plugin


async def test_publishes_and_prepares(tmp_path: Path) -> None:
    opts = plugin_options(tmp_path, driver_options={"echo_devices": "2"})
    async with running_plugin(opts, kind=KIND) as t:
        [(_, sl)] = t.store.list("resourceslices")
        assert [d["name"] for d in sl["spec"]["devices"]] == ["echo-0", "echo-1"]
        ref = t.add_claim(
            allocated_claim(
                namespace="ns",
                name="c",
                driver="echo.example.com",
                devices=[("r", "node-1", "echo-1")],
            )
        )
        res = (await t.kubelet.prepare([ref]))[ref.uid]
        assert res.error == "" and [d.device for d in res.devices] == ["echo-1"]
        assert (await t.kubelet.unprepare([ref]))[ref.uid].error == ""
