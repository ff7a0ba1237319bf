"""A property test: random prepare / unprepare / container create / stop / restart / kill
sequences against the CPU driver (native packer included), checking after every step that no
CPU is in two claims, that the running pool is online - reserved - the CPUs of claims with a
live container, that a shared container is never on such a CPU nor on a reserved one, that a
pinned one is on its claims' CPUs, and that no cpuset sent is empty."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from drafast.drivers.cpu import CpuDriver, CpuDriverSettings
from drafast.drivers.cpu.cpulist import format_cpulist, parse_cpulist
from drafast.drivers.cpu.topology import read_topology
from drafast.errors import DrafastError
from drafast.testing.sysfs import SysfsSpec, write_sysfs
from drafast.types import (
    AllocatedDevice,
    Claim,
    ClaimRef,
    ClaimUID,
    ContainerRef,
    DriverName,
    NodeName,
    PoolName,
    PreparedClaim,
)

DRIVER = DriverName("cpu.drafast.dev")
SPEC = SysfsSpec(sockets=2, numa_per_socket=1, cores_per_numa=4, threads_per_core=2)  # 16 CPUs
RESERVED = "0,8"


def new_driver(root: Path) -> CpuDriver:
    settings = CpuDriverSettings(host_root=root, reserved_cpus=RESERVED)
    return CpuDriver(
        settings, node_name=NodeName("n"), driver_name=DRIVER, topology=read_topology(root)
    )


def a_claim(uid: str, numa: int, count: int) -> Claim:
    device = AllocatedDevice(
        request="cpus",
        pool=PoolName("n"),
        device=f"cpudevnuma{numa:03d}",  # type: ignore[arg-type]
        share_id=f"s-{uid}",
        consumed_capacity={f"{DRIVER}/cpu": str(count)},
    )
    ref = ClaimRef(namespace="ns", name=uid, uid=ClaimUID(uid))
    return Claim(ref=ref, devices=(device,), configs=(), reserved_for=())


def container(cid: str, env: dict[str, str], cpus: str = "") -> ContainerRef:
    return ContainerRef(
        id=cid, name=cid, pod_uid="p", pod_namespace="ns", pod_name=cid, env=env, cpuset_cpus=cpus
    )


@pytest.mark.parametrize("seed", range(12))
def test_random_sequences_keep_the_invariants(tmp_path: Path, seed: int) -> None:
    asyncio.run(_run(tmp_path, random.Random(seed)))


async def _run(tmp_path: Path, rnd: random.Random) -> None:
    root = write_sysfs(tmp_path, SPEC)
    online = frozenset(read_topology(root).cpus)
    reserved = parse_cpulist(RESERVED)
    driver = new_driver(root)
    checkpoint: dict[ClaimUID, tuple[ClaimRef, PreparedClaim]] = {}
    runtime: dict[str, tuple[dict[str, str], str, bool]] = {}  # id -> env, cpus, live
    n = 0

    def apply(updates: object) -> None:
        for u in updates:  # type: ignore[attr-defined]
            assert u.cpuset_cpus, "an empty cpuset was sent"
            env, _, live = runtime[u.container_id]
            runtime[u.container_id] = (env, u.cpuset_cpus, live)

    for _ in range(120):
        n += 1
        op = rnd.choice(
            ["prepare", "prepare", "unprepare", "create", "create", "shared", "stop", "restart"]
        )
        if op == "prepare":
            c = a_claim(f"c{n}", rnd.randrange(2), rnd.randint(1, 4))
            try:
                prepared = await driver.prepare(c)
            except DrafastError:
                pass
            else:
                checkpoint[c.ref.uid] = (c.ref, prepared)
        elif op == "unprepare" and checkpoint:
            uid = rnd.choice(sorted(checkpoint))
            live = [i for i, (env, _, up) in runtime.items() if up and f"DRA_CPUSET_{uid}" in env]
            if not live:  # the kubelet unprepares only after the claim's containers stopped
                ref, prepared = checkpoint.pop(uid)
                await driver.unprepare(ref, prepared)
        elif op == "create" and checkpoint:
            uid = rnd.choice(sorted(checkpoint))
            env = {f"DRA_CPUSET_{uid}": format_cpulist(driver.allocations.claims[uid])}
            try:
                adj = await driver.create(container(f"x{n}", env))
            except DrafastError:
                continue
            assert adj.cpuset_cpus
            runtime[f"x{n}"] = (env, adj.cpuset_cpus, True)
            apply(adj.updates)
        elif op == "shared":
            try:
                adj = await driver.create(container(f"s{n}", {}))
            except DrafastError:
                continue
            assert adj.cpuset_cpus
            runtime[f"s{n}"] = ({}, adj.cpuset_cpus, True)
            apply(adj.updates)
        elif op == "stop":
            live = [i for i, (_, _, up) in runtime.items() if up]
            if live:
                cid = rnd.choice(live)
                env, cpus, _ = runtime[cid]
                runtime[cid] = (env, cpus, False)
                apply(await driver.stopped(container(cid, env, cpus)))
        elif op == "restart":  # a restart or a kill -9: only the checkpoint survives
            driver = new_driver(root)
            await driver.restore(list(checkpoint.values()))
            live = [container(i, env, cpus) for i, (env, cpus, up) in runtime.items() if up]
            apply(await driver.synchronize(live))

        # -- the invariants
        claims = driver.allocations.claims
        assert set(claims) == set(checkpoint)
        held = [cpu for cpus in claims.values() for cpu in cpus]
        assert len(held) == len(set(held)), "a CPU is in two claims"
        assert not set(held) & reserved
        active = {
            ClaimUID(k.removeprefix("DRA_CPUSET_"))
            for env, _, up in runtime.values()
            if up
            for k in env
        }
        exclusive = frozenset().union(*(claims[u] for u in active if u in claims))
        running_pool = online - reserved - exclusive
        assert driver.pinning.running_pool() == running_pool
        assert driver.pinning.shared_pool() == ((online - reserved - set(held)) or running_pool)
        for cid, (env, cpus, up) in runtime.items():
            if not up:
                continue
            if env:
                [(_, text)] = env.items()
                assert cpus == text, cid
            elif running_pool:  # never on a running claim's CPU, never on a reserved one
                assert parse_cpulist(cpus) <= running_pool, (
                    cid,
                    cpus,
                    format_cpulist(running_pool),
                )
