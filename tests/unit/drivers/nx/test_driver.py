"""NxDriver on fixture host roots, called directly (the plugin core and sockets are covered by
tests/integration/test_plugin_nx.py)."""

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from nx_fixture import trees

from drafast.driver import HealthSource, KubeletDriver, RestoringDriver
from drafast.drivers.nx import NxDriver, NxDriverSettings, Sharing
from drafast.drivers.nx.driver import whole_quantity
from drafast.errors import ClaimError, ConfigError, DeviceError, DriverStateError
from drafast.types import (
    AllocatedDevice,
    Claim,
    ClaimRef,
    ClaimUID,
    ConfigSource,
    DeviceName,
    DeviceNode,
    Health,
    NodeName,
    OpaqueConfig,
    PoolName,
    PreparedClaim,
)

NX_CONFIG = {"apiVersion": "nx.drafast.dev/v1alpha1", "kind": "NxConfig"}


def driver(root: Path, **kw: Any) -> NxDriver:
    return NxDriver(NxDriverSettings(host_root=root, **kw), node_name=NodeName("node-1"))


def claim(
    n: int,
    devices: Sequence[str] = ("nx-gzip",),
    configs: Sequence[tuple[Any, Sequence[str]]] = (),
    credits: Mapping[str, str] | None = None,
    pool: str = "node-1",
) -> Claim:
    ref = ClaimRef(namespace="ns", name=f"c{n}", uid=ClaimUID(f"uid-{n}"))
    return Claim(
        ref=ref,
        devices=tuple(
            AllocatedDevice(
                request=f"r{i}",
                pool=PoolName(pool),
                device=DeviceName(d),
                share_id=f"share-{n}-{i}" if credits is not None else None,
                consumed_capacity=dict(credits or {}),
            )
            for i, d in enumerate(devices)
        ),
        configs=tuple(
            OpaqueConfig(source=ConfigSource.CLAIM, requests=tuple(reqs), parameters=params)
            for params, reqs in configs
        ),
        reserved_for=(),
    )


@pytest.fixture
def lpar(tmp_path: Path) -> Path:
    return trees.build("lpar-nx", tmp_path / "host")


def test_implements_the_protocols(lpar: Path) -> None:
    d = driver(lpar)
    assert isinstance(d, KubeletDriver)
    assert isinstance(d, HealthSource)
    assert isinstance(d, RestoringDriver)
    assert d.name == "nx.drafast.dev" and d.cdi_class == "nx"


async def test_discover_publishes_the_lpar_accelerator(lpar: Path) -> None:
    res = await driver(lpar).discover()
    pool = res.pools[PoolName("node-1")]
    assert pool.node_name == "node-1"
    [dev] = pool.slices[0].devices
    assert dev.name == "nx-gzip" and dev.attributes["reqMaxProcessedLen"] == 1048576


async def test_no_nx_publishes_an_empty_pool_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = driver(trees.build("lpar-no-nx", tmp_path))
    with caplog.at_level(logging.INFO, logger="drafast.drivers.nx"):
        for _ in range(3):
            res = await d.discover()
            assert res.pools[PoolName("node-1")].slices[0].devices == ()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "no usable NX-gzip accelerator; publishing no devices"
    ]
    assert warnings[0].reason.startswith("no NX-gzip accelerator: ")  # type: ignore[attr-defined]


async def test_a_malformed_tree_fails_discover(tmp_path: Path) -> None:
    d = driver(trees.build("chip-id-truncated", tmp_path))
    with pytest.raises(DeviceError, match=r"ibm,chip-id: expected 4 bytes"):
        await d.discover()


async def test_prepare_gives_the_device_node_and_env(lpar: Path) -> None:
    d = driver(lpar)
    await d.discover()
    prepared = await d.prepare(claim(1))
    [dev] = prepared.devices
    assert (dev.pool, dev.device, dev.requests, dev.share_id) == (
        "node-1",
        "nx-gzip",
        ("r0",),
        None,
    )
    assert dev.edits.device_nodes == (
        DeviceNode(
            path="/dev/crypto/nx-gzip",
            host_path=str(lpar / "dev/crypto/nx-gzip"),  # host root is not /
            type="c",
            major=243,
            minor=0,
            file_mode=0o666,
            permissions="rw",
        ),
    )
    assert dev.edits.env == (
        "NX_DEVICE=nx-gzip",
        "NX_DEVICE_PATH=/dev/crypto/nx-gzip",
        "NX_DEVICE_SHARING_STRATEGY=TimeSlicing",
        "NX_DEVICE_TIMESLICE_INTERVAL=Default",
    )
    assert prepared.state == {"v": 1, "holds": {"nx-gzip": 0}, "sharing": "exclusive"}


async def test_host_root_slash_means_no_host_path(lpar: Path) -> None:
    d = driver(lpar)
    await d.discover()
    object.__setattr__(d.settings, "host_root", Path("/"))
    prepared = await d.prepare(claim(1))
    assert prepared.devices[0].edits.device_nodes[0].host_path is None


async def test_prepare_before_discover_probes(lpar: Path) -> None:
    prepared = await driver(lpar).prepare(claim(1))
    assert prepared.devices[0].device == "nx-gzip"


async def test_config_per_request_later_wins(lpar: Path) -> None:
    d = driver(trees.build("powernv-2chip", lpar.parent / "nv"))
    space = NX_CONFIG | {
        "sharing": {
            "strategy": "SpacePartitioning",
            "spacePartitioningConfig": {"partitionCount": 3},
        }
    }
    short = NX_CONFIG | {
        "sharing": {"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": "Short"}}
    }
    c = claim(
        1,
        devices=("nx-gzip-chip0", "nx-gzip-chip8"),
        configs=[(space, ()), (short, ("r1",))],
    )
    prepared = await d.prepare(c)
    env0, env1 = (dev.edits.env for dev in prepared.devices)
    assert "NX_DEVICE_PARTITION_COUNT=3" in env0 and "NX_CHIP_ID=0" in env0
    assert "NX_DEVICE_TIMESLICE_INTERVAL=Short" in env1 and "NX_CHIP_ID=8" in env1
    assert "NX_DEVICE=nx-gzip-chip8" in env1
    assert prepared.state["holds"] == {"nx-gzip-chip0": 0, "nx-gzip-chip8": 0}


async def test_bad_config_names_claim_and_field(lpar: Path) -> None:
    d = driver(lpar)
    bad = NX_CONFIG | {"sharing": {"strategy": "Sometimes"}}
    with pytest.raises(ConfigError) as err:
        await d.prepare(claim(1, configs=[(NX_CONFIG, ()), (bad, ())]))
    assert str(err.value) == (
        "claim ns/c1 (uid-1): NxConfig 2 of 2 (FromClaim): sharing.strategy: expected one of "
        "TimeSlicing, SpacePartitioning, got 'Sometimes'"
    )
    with pytest.raises(ConfigError, match=r"claim ns/c2 \(uid-2\): .*apiVersion: required"):
        await d.prepare(claim(2, configs=[({"kind": "NxConfig"}, ())]))
    # a failed claim holds nothing
    await d.prepare(claim(3))


async def test_exclusive_refuses_a_second_claim(lpar: Path) -> None:
    d = driver(lpar)
    await d.discover()
    first = await d.prepare(claim(1))
    with pytest.raises(DeviceError) as err:
        await d.prepare(claim(2))
    assert str(err.value) == (
        "claim ns/c2 (uid-2): device nx-gzip is in use by claim ns/c1 (uid-1) and this node "
        "shares it with no one (--nx-sharing exclusive)"
    )
    assert await d.prepare(claim(1)) == first  # the holder itself may ask again
    await d.unprepare(claim(1).ref, first)
    await d.unprepare(claim(1).ref, first)  # idempotent
    await d.prepare(claim(2))


async def test_admin_access_takes_no_hold(lpar: Path) -> None:
    d = driver(lpar)
    await d.prepare(claim(1))
    admin = claim(2)
    admin = replace(admin, devices=tuple(replace(a, admin_access=True) for a in admin.devices))
    prepared = await d.prepare(admin)  # allowed next to the holder, and holds nothing
    assert prepared.state["holds"] == {}
    assert prepared.devices[0].edits.device_nodes[0].path == "/dev/crypto/nx-gzip"


async def test_concurrent_prepares_let_exactly_one_win(lpar: Path) -> None:
    d = driver(lpar)
    await d.discover()
    results = await asyncio.gather(
        *(d.prepare(claim(i)) for i in range(20)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, DeviceError) for r in results if isinstance(r, BaseException))


async def test_shared_mode_counts_credits(lpar: Path) -> None:
    d = driver(lpar, sharing=Sharing.SHARED, max_shares=5)
    res = await d.discover()
    [dev] = res.pools[PoolName("node-1")].slices[0].devices
    assert dev.allow_multiple_allocations and dev.capacity["credits"].value == "5"
    a = await d.prepare(claim(1, credits={"credits": "3"}))
    assert a.devices[0].share_id == "share-1-0"
    assert "NX_DEVICE_CREDITS=3" in a.devices[0].edits.env
    b = await d.prepare(claim(2, credits={}))  # no consumed capacity: the policy default, 1
    assert "NX_DEVICE_CREDITS=1" in b.devices[0].edits.env
    with pytest.raises(DeviceError, match="has 1 of 5 credits left, the claim needs 2"):
        await d.prepare(claim(3, credits={"credits": "2"}))
    await d.prepare(claim(4, credits={"credits": "1"}))
    await d.unprepare(claim(1).ref, a)
    await d.prepare(claim(3, credits={"credits": "2"}))
    with pytest.raises(ClaimError, match=r"consumed capacity credits='1500m' is not a whole"):
        await d.prepare(claim(5, credits={"credits": "1500m"}))


async def test_restore_brings_back_holds(lpar: Path) -> None:
    d = driver(lpar)
    prepared = await d.prepare(claim(1))
    fresh = driver(lpar)  # a restarted plugin
    await fresh.restore([(claim(1).ref, prepared)])
    with pytest.raises(DeviceError, match="in use by claim ns/c1"):
        await fresh.prepare(claim(2))


async def test_unprepare_of_a_rolled_back_prepare_frees_the_accelerator(lpar: Path) -> None:
    """What the core does when the checkpoint commit fails after prepare: unprepare."""
    d = driver(lpar)
    first = await d.prepare(claim(1))
    with pytest.raises(DeviceError, match="in use by claim ns/c1"):
        await d.prepare(claim(2))
    await d.unprepare(claim(1).ref, first)
    await d.prepare(claim(2))


async def test_driver_state_is_versioned(lpar: Path) -> None:
    d = driver(lpar)
    prepared = await d.prepare(claim(1))
    assert prepared.state == {"v": 1, "holds": {"nx-gzip": 0}, "sharing": "exclusive"}
    old = PreparedClaim(devices=prepared.devices, state={"holds": {"nx-gzip": 0}})
    fresh = driver(lpar)
    await fresh.restore([(claim(1).ref, old)])  # written before the version field: read as 1
    with pytest.raises(DeviceError, match="in use by claim ns/c1"):
        await fresh.prepare(claim(2))
    newer = PreparedClaim(devices=prepared.devices, state={**prepared.state, "v": 2})
    with pytest.raises(DriverStateError, match="nx driver state version 2: this drafast reads"):
        await driver(lpar).restore([(claim(1).ref, newer)])


async def test_unknown_device_or_pool(lpar: Path) -> None:
    d = driver(lpar)
    with pytest.raises(DeviceError) as err:
        await d.prepare(claim(1, devices=("nx-gzip-chip0",)))
    assert str(err.value) == (
        "claim ns/c1 (uid-1): device nx-gzip-chip0 is not an NX-gzip accelerator of this node"
    )
    with pytest.raises(DeviceError, match="device node-2/nx-gzip is not in this node's pool"):
        await d.prepare(claim(2, pool="node-2"))
    nonx = driver(trees.build("lpar-no-nx", lpar.parent / "nonx"))
    with pytest.raises(DeviceError, match=r"accelerator of this node: no NX-gzip accelerator: "):
        await nonx.prepare(claim(3))


async def test_health_follows_the_device(tmp_path: Path) -> None:
    root = trees.build("powernv-2chip", tmp_path / "host")
    if not trees.make_device_node(root, 1, 3):
        pytest.fail("cannot mknod a stand-in device here: the NX tests need root")
    d = driver(root)
    assert await d.health() == []  # nothing published yet
    await d.discover()
    assert {h.health for h in await d.health()} == {Health.HEALTHY}
    (root / "dev/crypto/nx-gzip").unlink()
    trees.make_device_node(root, 1, 5)
    got = await d.health()
    assert {h.health for h in got} == {Health.UNHEALTHY}
    assert got[0].message == "device numbers changed from 1:3 to 1:5"
    (root / "dev/crypto/nx-gzip").unlink()
    (root / trees.SYSFS_DEV).unlink()
    got = await d.health()
    assert [h.device for h in got] == ["nx-gzip-chip0", "nx-gzip-chip8"]
    assert {h.health for h in got} == {Health.UNHEALTHY}
    assert "but neither" in got[0].message
    trees.write(root, {trees.SYSFS_DEV: "bad"})
    assert "expected MAJOR:MINOR" in (await d.health())[0].message


def test_whole_quantities() -> None:
    assert [whole_quantity(v) for v in ("0", "7", "2k", "1Ki", "3M", "1e3", "2000m")] == [
        0,
        7,
        2000,
        1024,
        3000000,
        1000,  # an exponent is a whole quantity too
        2,
    ]
    assert [whole_quantity(v) for v in ("1.5", "500m", "", "-1", " 1")] == [None] * 5


def test_settings_are_checked(lpar: Path) -> None:
    with pytest.raises(ConfigError, match="nx max shares 0: must be at least 1"):
        driver(lpar, max_shares=0)
