"""The CPU driver end to end without a cluster: the real plugin core behind the kubelet
stand-in (real gRPC), and the NRI runtime stand-in playing containerd over the real NRI socket.
What containers end up pinned to is what the runtime stand-in holds after applying our replies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from drafast.drivers.cpu.cpulist import format_cpulist, parse_cpulist
from drafast.testing import PluginUnderTest, running_plugin
from drafast.testing.nri import NriRuntime, PluginRefusedError
from drafast.testing.sysfs import SysfsSpec
from drafast.types import ClaimRef

from .test_plugin_cpu import claim, cpu_options, cpus_of

pytestmark = pytest.mark.integration
EIGHT = SysfsSpec(cores_per_numa=8)  # cpus 0-7, one NUMA node, no SMT


@asynccontextmanager
async def node(
    tmp_path: Path, spec: SysfsSpec = EIGHT, **options: Any
) -> AsyncIterator[tuple[PluginUnderTest, NriRuntime]]:
    """The plugin connected and synchronized to a fresh runtime stand-in."""
    rt = NriRuntime(tmp_path / "nri" / "nri.sock")
    async with rt:
        opts = replace(cpu_options(tmp_path, spec, **options), nri_socket=str(rt.socket))
        async with running_plugin(opts) as t:
            await rt.wait_synchronized()
            yield t, rt


async def prepare(
    t: PluginUnderTest, name: str, count: str = "2"
) -> tuple[ClaimRef, frozenset[int]]:
    ref = t.add_claim(claim(name, count=count))
    out = await t.kubelet.prepare([ref])
    assert out[ref.uid].error == "", out[ref.uid].error
    return ref, cpus_of(t, ref)


def env_for(ref: ClaimRef, cpus: frozenset[int]) -> dict[str, str]:
    return {"PATH": "/bin", f"DRA_CPUSET_{ref.uid}": format_cpulist(cpus)}


async def test_pinned_and_shared_containers_and_the_pool_follows(tmp_path: Path) -> None:
    async with node(tmp_path) as (t, rt):
        s1 = await rt.create_container("web", "shared")
        assert s1.cpus == "0-7"
        ref, mine = await prepare(t, "a")
        pinned = await rt.create_container("job", "main", env=env_for(ref, mine))
        assert parse_cpulist(pinned.cpus) == mine
        pool = frozenset(range(8)) - mine
        assert parse_cpulist(rt.containers[s1.id].cpus) == pool  # shrunk in the create's reply
        s2 = await rt.create_container("web2", "shared")
        assert parse_cpulist(s2.cpus) == pool
        # the claim's container stops: the shared ones get its CPUs back in the stop's reply
        await rt.stop_container(pinned.id)
        assert rt.containers[s1.id].cpus == rt.containers[s2.id].cpus == "0-7"
        assert (await t.kubelet.unprepare([ref]))[ref.uid].error == ""
        assert rt.update_containers_calls == 0


async def test_forged_stale_and_unknown_claim_variables_are_refused(tmp_path: Path) -> None:
    async with node(tmp_path) as (t, rt):
        ref, mine = await prepare(t, "a")
        other = frozenset(range(8)) - mine
        cases = {
            "forged": {f"DRA_CPUSET_{ref.uid}": format_cpulist(other)},
            "unknown": {"DRA_CPUSET_0000-nope": "0"},
            "garbage": {f"DRA_CPUSET_{ref.uid}": "zero-one"},
        }
        for name, env in cases.items():
            with pytest.raises(PluginRefusedError, match="DRA_CPUSET_"):
                await rt.create_container("pod", name, env=env)
        ok = await rt.create_container("pod", "ok", env=env_for(ref, mine))
        assert parse_cpulist(ok.cpus) == mine  # still serving


async def test_fail_closed(tmp_path: Path) -> None:
    async with node(tmp_path, SysfsSpec(cores_per_numa=2)) as (t, rt):
        await rt.create_container("web", "shared")
        a, cpus_a = await prepare(t, "a", count="1")
        await rt.create_container("job", "a", env=env_for(a, cpus_a))
        b = t.add_claim(claim("b", count="1"))
        out = await t.kubelet.prepare([b])
        assert "would leave no CPU for the 1 running shared container(s)" in out[b.uid].error
        assert len(rt.cpusets()) == 2 and all(rt.cpusets().values())  # never an empty cpuset


async def test_a_plugin_restart_keeps_claims_and_corrects_drift(tmp_path: Path) -> None:
    rt = NriRuntime(tmp_path / "nri" / "nri.sock")
    async with rt:
        opts = replace(cpu_options(tmp_path, EIGHT), nri_socket=str(rt.socket))
        async with running_plugin(opts) as t:
            await rt.wait_synchronized()
            ref, mine = await prepare(t, "a")
            pinned = await rt.create_container("job", "main", env=env_for(ref, mine))
            shared = await rt.create_container("web", "shared")
        await rt.wait_disconnected()
        # while the plugin is away: a container starts unpinned, another drifts
        late = rt.add_container("web", "late", cpus="0-7")
        rt.store.containers[pinned.id] = replace(rt.store.containers[pinned.id], cpus="0-7")
        async with running_plugin(opts) as t:
            await rt.wait_synchronized(after=1)
            pool = frozenset(range(8)) - mine
            assert parse_cpulist(rt.containers[pinned.id].cpus) == mine
            assert parse_cpulist(rt.containers[shared.id].cpus) == pool
            assert parse_cpulist(rt.containers[late.id].cpus) == pool
            # the checkpoint kept the claim's CPUs: a new claim gets others
            _, other = await prepare(t, "b")
            assert not other & mine


async def test_runtime_restart_redials_and_readyz_says_so(tmp_path: Path) -> None:
    async with node(tmp_path) as (t, rt):
        assert await t.plugin._node_ready() is None
        await rt.close()

        async def reason() -> str | None:
            for _ in range(200):
                if why := await t.plugin._node_ready():
                    return why
                await asyncio.sleep(0.05)
            return None

        why = await reason()
        assert why is not None and why.startswith("NRI:"), why
        await prepare(t, "served-while-nri-is-down")  # the DRA side keeps serving
        await rt.start()
        await rt.wait_synchronized(after=1)
        assert await t.plugin._node_ready() is None
