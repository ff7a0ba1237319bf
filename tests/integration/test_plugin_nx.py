"""The NX driver behind the real plugin core, over real gRPC on real Unix sockets, against a
fixture host root whose ``dev/crypto/nx-gzip`` is a character device with the numbers of
/dev/null (1:3), made with mknod at test time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from nx_fixture import trees

from drafast.app.settings import RunOptions
from drafast.testing import PluginUnderTest, allocated_claim, plugin_options, running_plugin
from drafast.types import ClaimRef

pytestmark = pytest.mark.integration
DRIVER = "nx.drafast.dev"
NX_CONFIG = {"apiVersion": "nx.drafast.dev/v1alpha1", "kind": "NxConfig"}


def host(tmp_path: Path, tree: str = "lpar-nx") -> Path:
    root = trees.build(tree, tmp_path / "host")
    if not trees.make_device_node(root, 1, 3):
        pytest.fail("cannot mknod a stand-in device here: the NX tests need root (CI runs as root)")
    return root


def nx_options(tmp_path: Path, root: Path, **driver_options: Any) -> RunOptions:
    return plugin_options(
        tmp_path,
        driver="nx",
        driver_name=DRIVER,
        driver_options={"host_root": str(root), **driver_options},
    )


def claim(
    name: str,
    device: str = "nx-gzip",
    configs: list[dict[str, Any]] | None = None,
    credits: str | None = None,
) -> dict[str, Any]:
    obj = allocated_claim(
        namespace="ns",
        name=name,
        driver=DRIVER,
        devices=[("nx", "node-1", device)],
        pods=[f"pod-{name}"],
        configs=[
            {"source": "FromClaim", "requests": [], "opaque": {"driver": DRIVER, "parameters": p}}
            for p in configs or []
        ],
    )
    if credits is not None:  # what the scheduler writes for a multi-allocatable device
        result = obj["status"]["allocation"]["devices"]["results"][0]
        result["shareID"] = f"0b7c{len(name):04x}-{name}"
        result["consumedCapacity"] = {"credits": credits}
    return obj


def spec_of(t: PluginUnderTest, ref: ClaimRef) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(t.plugin.cdi.path(ref.uid).read_bytes())
    return data


async def test_publishes_the_accelerator_with_attributes_and_capacity(tmp_path: Path) -> None:
    root = host(tmp_path)
    async with running_plugin(nx_options(tmp_path, root)) as t:
        [(_, obj)] = t.store.list("resourceslices")
        spec = obj["spec"]
        assert spec["driver"] == DRIVER and spec["pool"]["name"] == "node-1"
        [dev] = spec["devices"]
        assert dev["name"] == "nx-gzip"
        assert dev["attributes"]["platform"] == {"string": "powervm"}
        assert dev["attributes"]["reqMaxProcessedLen"] == {"int": 1048576}
        assert dev["attributes"]["sharing"] == {"string": "exclusive"}
        assert dev["capacity"] == {"credits": {"value": "240"}}
        assert "allowMultipleAllocations" not in dev


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
async def test_prepare_writes_device_node_and_env(tmp_path: Path, version: str) -> None:
    root = host(tmp_path)
    async with running_plugin(nx_options(tmp_path, root)) as t:
        ref = t.add_claim(claim("c1"))
        res = (await t.kubelet.prepare([ref], version))[ref.uid]  # type: ignore[arg-type]
        assert res.error == ""
        [dev] = res.devices
        assert (dev.pool, dev.device, dev.request_names) == ("node-1", "nx-gzip", ("nx",))
        assert dev.cdi_device_ids == (f"k8s.{DRIVER}/nx={ref.uid}-nx-gzip",)
        spec = spec_of(t, ref)
        assert spec["kind"] == f"k8s.{DRIVER}/nx"
        assert spec["cdiVersion"] == "0.5.0"  # hostPath needs 0.5.0
        edits = spec["devices"][0]["containerEdits"]
        assert edits["deviceNodes"] == [
            {
                "path": "/dev/crypto/nx-gzip",
                "hostPath": str(root / "dev/crypto/nx-gzip"),
                "type": "c",
                "major": 1,  # from stat of the node: it wins over sysfs (243:0)
                "minor": 3,
                "fileMode": 0o666,
                "permissions": "rw",
            }
        ]
        assert edits["env"] == [
            "NX_DEVICE=nx-gzip",
            "NX_DEVICE_PATH=/dev/crypto/nx-gzip",
            "NX_DEVICE_SHARING_STRATEGY=TimeSlicing",
            "NX_DEVICE_TIMESLICE_INTERVAL=Default",
        ]
        assert (await t.kubelet.unprepare([ref], version))[ref.uid].error == ""  # type: ignore[arg-type]
        assert not t.plugin.cdi.path(ref.uid).exists()
        assert len(t.plugin.store) == 0


async def test_nx_config_reaches_the_env(tmp_path: Path) -> None:
    root = host(tmp_path)
    config = NX_CONFIG | {
        "sharing": {
            "strategy": "SpacePartitioning",
            "spacePartitioningConfig": {"partitionCount": 4},
        }
    }
    async with running_plugin(nx_options(tmp_path, root)) as t:
        ref = t.add_claim(claim("c1", configs=[config]))
        assert (await t.kubelet.prepare([ref]))[ref.uid].error == ""
        env = spec_of(t, ref)["devices"][0]["containerEdits"]["env"]
        assert "NX_DEVICE_SHARING_STRATEGY=SpacePartitioning" in env
        assert "NX_DEVICE_PARTITION_COUNT=4" in env


async def test_bad_nx_config_fails_that_claim_only(tmp_path: Path) -> None:
    root = host(tmp_path)
    bad = NX_CONFIG | {"sharing": {"strategy": "TimeSlicing", "timeSlicing": {}}}
    async with running_plugin(nx_options(tmp_path, root, nx_sharing="shared")) as t:
        good = t.add_claim(claim("good", credits="1"))
        wrong = t.add_claim(claim("wrong", configs=[bad], credits="1"))
        noversion = t.add_claim(claim("noversion", configs=[{"kind": "NxConfig"}], credits="1"))
        res = await t.kubelet.prepare([good, wrong, noversion])
        assert res[good.uid].error == ""
        assert res[wrong.uid].error == (
            f"claim ns/wrong ({wrong.uid}): NxConfig 1 of 1 (FromClaim): sharing.timeSlicing: "
            "unknown field (known: strategy, timeSlicingConfig, spacePartitioningConfig)"
        )
        assert res[noversion.uid].error == (
            f"claim ns/noversion ({noversion.uid}): NxConfig 1 of 1 (FromClaim): "
            "apiVersion: required (nx.drafast.dev/v1alpha1)"
        )
        assert not t.plugin.cdi.path(wrong.uid).exists()
        assert set(t.plugin.store.uids()) == {good.uid}


async def test_exclusive_refuses_a_second_claim_until_the_first_is_gone(tmp_path: Path) -> None:
    root = host(tmp_path)
    opts = nx_options(tmp_path, root)
    async with running_plugin(opts) as t:
        first = t.add_claim(claim("first"))
        second = t.add_claim(claim("second"))
        assert (await t.kubelet.prepare([first]))[first.uid].error == ""
        res = (await t.kubelet.prepare([second]))[second.uid]
        assert res.error == (
            f"claim ns/second ({second.uid}): device nx-gzip is in use by claim ns/first "
            f"({first.uid}) and this node shares it with no one (--nx-sharing exclusive)"
        )
        assert (await t.kubelet.prepare([first]))[first.uid].error == ""  # idempotent
    # a restarted plugin still knows who holds the device (restored from the checkpoint)
    async with running_plugin(opts) as t:
        res = (await t.kubelet.prepare([second]))[second.uid]
        assert "is in use by claim ns/first" in res.error
        assert (await t.kubelet.unprepare([first]))[first.uid].error == ""
        assert (await t.kubelet.prepare([second]))[second.uid].error == ""


async def test_shared_mode_splits_credits(tmp_path: Path) -> None:
    root = host(tmp_path)
    opts = nx_options(tmp_path, root, nx_sharing="shared", nx_max_shares="4")
    async with running_plugin(opts) as t:
        [(_, obj)] = t.store.list("resourceslices")
        [dev] = obj["spec"]["devices"]
        assert dev["allowMultipleAllocations"] is True
        assert dev["capacity"]["credits"] == {
            "value": "4",
            "requestPolicy": {"default": "1", "validRange": {"min": "1", "max": "4", "step": "1"}},
        }
        a = t.add_claim(claim("a", credits="2"))
        b = t.add_claim(claim("b", credits="2"))
        c = t.add_claim(claim("c", credits="1"))
        res = await t.kubelet.prepare([a, b])
        assert res[a.uid].error == res[b.uid].error == ""
        assert res[a.uid].devices[0].share_id == "0b7c0001-a"
        assert res[a.uid].devices[0].cdi_device_ids == (
            f"k8s.{DRIVER}/nx={a.uid}-nx-gzip-0b7c0001-a",
        )
        env = spec_of(t, a)["devices"][0]["containerEdits"]["env"]
        assert "NX_DEVICE_CREDITS=2" in env
        res = await t.kubelet.prepare([c])
        assert "has 0 of 4 credits left, the claim needs 1" in res[c.uid].error
        await t.kubelet.unprepare([b])
        assert (await t.kubelet.prepare([c]))[c.uid].error == ""


async def test_no_nx_publishes_nothing_and_claims_fail_clearly(tmp_path: Path) -> None:
    root = trees.build("lpar-no-nx", tmp_path / "host")
    async with running_plugin(nx_options(tmp_path, root)) as t:
        [(_, obj)] = t.store.list("resourceslices")
        assert obj["spec"].get("devices", []) == []
        ref = t.add_claim(claim("c1"))
        err = (await t.kubelet.prepare([ref]))[ref.uid].error
        assert err.startswith(
            f"claim ns/c1 ({ref.uid}): device nx-gzip is not an NX-gzip accelerator of this "
            "node: no NX-gzip accelerator: "
        )


async def test_powernv_two_chips(tmp_path: Path) -> None:
    root = host(tmp_path, "powernv-2chip")
    async with running_plugin(nx_options(tmp_path, root)) as t:
        [(_, obj)] = t.store.list("resourceslices")
        assert [d["name"] for d in obj["spec"]["devices"]] == ["nx-gzip-chip0", "nx-gzip-chip8"]
        a = t.add_claim(claim("a", device="nx-gzip-chip0"))
        b = t.add_claim(claim("b", device="nx-gzip-chip8"))
        res = await t.kubelet.prepare([a, b])
        assert res[a.uid].error == res[b.uid].error == ""
        assert "NX_CHIP_ID=8" in spec_of(t, b)["devices"][0]["containerEdits"]["env"]


async def test_health_stream(tmp_path: Path) -> None:
    root = host(tmp_path)
    async with running_plugin(nx_options(tmp_path, root)) as t:
        async for message in t.kubelet.watch_health("v1"):
            assert {r.health.device: r.health.health.name for r in message} == {
                "nx-gzip": "HEALTHY"
            }
            break


def test_cli_options_reach_the_driver(tmp_path: Path) -> None:
    import argparse

    from drafast.app.cli import parse
    from drafast.app.process import DriverProcess
    from drafast.app.settings import resolve
    from drafast.drivers.nx import KIND, NxDriver, Sharing
    from drafast.errors import ConfigError

    root = trees.build("lpar-nx", tmp_path / "host")
    argv = ["run", "nx", "--node-name", "n1", "--host-root", str(root), "--cluster", "dir:c"]
    argv += ["--nx-sharing", "shared", "--nx-max-shares", "3", "--plugin-dir", str(tmp_path / "p")]
    opts = resolve(parse(argv), {}, KIND)
    assert opts.driver_name == DRIVER
    drv = DriverProcess(opts).driver
    assert isinstance(drv, NxDriver)
    assert (drv.settings.host_root, drv.settings.sharing, drv.settings.max_shares) == (
        root,
        Sharing.SHARED,
        3,
    )
    # environment variables, and a bad value is a clear configuration error
    env_args = argparse.Namespace(driver="nx", node_name="n1", cluster="dir:c")
    opts = resolve(env_args, {"HOST_ROOT": str(root), "NX_SHARING": "sometimes"}, KIND)
    with pytest.raises(ConfigError, match="--nx-sharing 'sometimes': expected exclusive or shared"):
        DriverProcess(opts)
    opts = replace(opts, driver_options={"host_root": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match=r"--host-root .*/missing: not a directory"):
        DriverProcess(opts)
