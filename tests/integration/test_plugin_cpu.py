"""The CPU driver behind the real plugin core, over real gRPC on real Unix sockets (the kubelet
stand-in), against fixture sysfs trees: what is published, which CPUs a claim gets, that the
allocation is durable across a restart, and that bad claims fail alone with a clear error."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest

from drafast.app.settings import RunOptions
from drafast.drivers.cpu.cpulist import parse_cpulist
from drafast.testing import PluginUnderTest, allocated_claim, plugin_options, running_plugin
from drafast.testing.sysfs import SysfsSpec, two_socket_smt, write_sysfs
from drafast.types import ClaimRef

pytestmark = pytest.mark.integration
DRIVER = "dra.cpu"  # the peer's name: a drop-in
_uids = itertools.count()


def cpu_options(tmp_path: Path, spec: SysfsSpec, **driver_options: Any) -> RunOptions:
    host = write_sysfs(tmp_path / "host", spec)
    return plugin_options(
        tmp_path,
        driver="cpu",
        driver_name=DRIVER,
        driver_options={"host_root": str(host), **driver_options},
    )


def claim(
    name: str,
    device: str = "cpudevnuma000",
    count: str | None = "2",
    config: dict[str, Any] | None = None,
    source: str = "FromClaim",
) -> dict[str, Any]:
    obj = allocated_claim(
        namespace="ns",
        name=name,
        driver=DRIVER,
        devices=[("cpus", "node-1", device)],
        pods=[f"pod-{name}"],
        configs=[
            {"source": source, "requests": [], "opaque": {"driver": DRIVER, "parameters": config}}
        ]
        if config
        else [],
    )
    if count is not None:  # what the scheduler writes for a consumable-capacity device
        result = obj["status"]["allocation"]["devices"]["results"][0]
        result["shareID"] = f"00000000-0000-0000-0000-{next(_uids):012d}"
        result["consumedCapacity"] = {f"{DRIVER}/cpu": count}
    return obj


def env_of(t: PluginUnderTest, ref: ClaimRef) -> dict[str, str]:
    spec = orjson.loads(t.plugin.cdi.path(ref.uid).read_bytes())
    env = [e for d in spec["devices"] for e in d["containerEdits"].get("env", [])]
    return dict(e.split("=", 1) for e in env)


def cpus_of(t: PluginUnderTest, ref: ClaimRef) -> frozenset[int]:
    return parse_cpulist(env_of(t, ref)[f"DRA_CPUSET_{ref.uid}"])


async def test_publishes_the_peers_device_model(tmp_path: Path) -> None:
    async with running_plugin(cpu_options(tmp_path, two_socket_smt(), reserved_cpus="0,64")) as t:
        [(_, obj)] = t.store.list("resourceslices")
        devices = {d["name"]: d for d in obj["spec"]["devices"]}
        assert sorted(devices) == [f"cpudevnuma{n:03d}" for n in range(4)]
        dev = devices["cpudevnuma000"]
        assert dev["allowMultipleAllocations"] is True
        assert dev["capacity"] == {f"{DRIVER}/cpu": {"value": "30"}}
        assert dev["attributes"]["resource.kubernetes.io/numaNode"] == {"int": 0}
        assert dev["attributes"]["dra.net/numaNode"] == {"int": 0}


async def test_grouped_claims_get_whole_cores_packed_and_never_the_same_cpu(
    tmp_path: Path,
) -> None:
    async with running_plugin(cpu_options(tmp_path, two_socket_smt())) as t:
        refs = [t.add_claim(claim(f"c{i}")) for i in range(3)]
        out = await t.kubelet.prepare(refs)
        assert all(r.error == "" for r in out.values()), out
        got = [cpus_of(t, r) for r in refs]
        # the kubelet's packing: a free whole core (cpu N and its sibling N+64) per claim
        assert got[0] == {0, 64}
        assert all(len(g) == 2 and max(g) - min(g) == 64 for g in got)
        assert len(frozenset().union(*got)) == 6
        [dev] = out[refs[0].uid].devices
        assert (dev.pool, dev.device, dev.request_names) == ("node-1", "cpudevnuma000", ("cpus",))


async def test_allocations_survive_a_restart_and_unprepare_frees_them(tmp_path: Path) -> None:
    opts = cpu_options(tmp_path, two_socket_smt())
    async with running_plugin(opts) as t:
        first = t.add_claim(claim("first"))
        assert (await t.kubelet.prepare([first]))[first.uid].error == ""
        held = cpus_of(t, first)
    async with running_plugin(opts) as t:  # a new process: the checkpoint is all it knows
        second = t.add_claim(claim("second"))
        assert (await t.kubelet.prepare([second]))[second.uid].error == ""
        assert not cpus_of(t, second) & held
        assert (await t.kubelet.unprepare([first]))[first.uid].error == ""
        third = t.add_claim(claim("third"))
        assert (await t.kubelet.prepare([third]))[third.uid].error == ""
        assert cpus_of(t, third) == held  # the freed core is the best fit again


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (claim("big", count="40"), "asked for 40 CPUs, 32 free: not enough free CPUs"),
        (claim("zero", count="0"), "is not a whole number of CPUs of at least 1"),
        (claim("frac", count="500m"), "is not a whole number of CPUs of at least 1"),
        (claim("nodev", device="cpudevnuma009"), "not a CPU device of this node"),
        (claim("badcfg", config={"apiVersion": "v2"}), "apiVersion: expected v1alpha1"),
        (
            claim("unknown", config={"apiVersion": "v1alpha1", "cpuConfig": {"x": 1}}),
            "cpuConfig.x: unknown field",
        ),
        (
            claim(
                "odd",
                count="3",
                config={"apiVersion": "v1alpha1", "cpuConfig": {"fullCores": True}},
            ),
            "3",
        ),
    ],
)
async def test_a_bad_claim_fails_alone_with_a_clear_error(
    tmp_path: Path, obj: dict[str, Any], message: str
) -> None:
    async with running_plugin(cpu_options(tmp_path, two_socket_smt())) as t:
        bad, good = t.add_claim(obj), t.add_claim(claim("good"))
        out = await t.kubelet.prepare([bad, good])
        assert message in out[bad.uid].error and "claim ns/" in out[bad.uid].error
        assert "\n" not in out[bad.uid].error
        assert out[good.uid].error == ""
        assert not t.plugin.cdi.path(bad.uid).exists()
        assert len(t.plugin.store) == 1


async def test_machine_mode_takes_the_cpuset_from_the_claim_and_checks_it(tmp_path: Path) -> None:
    spec = SysfsSpec(cores_per_numa=8)
    opts = cpu_options(tmp_path, spec, group_by="machine", reserved_cpus="0")

    def exact(name: str, cpus: str, count: str = "2", source: str = "FromClaim") -> dict[str, Any]:
        cfg = {"apiVersion": "v1alpha1", "cpuConfig": {"cpuset": cpus}}
        return claim(name, "cpudevmachine", count, cfg, source)

    async with running_plugin(opts) as t:
        ok = t.add_claim(exact("ok", "2-3"))
        assert (await t.kubelet.prepare([ok]))[ok.uid].error == ""
        assert cpus_of(t, ok) == {2, 3}
        cases = {
            "taken": (exact("taken", "3-4"), "CPUs 3 are taken by claim"),
            "reserved": (exact("reserved", "0-1"), "CPUs 0 are reserved"),
            "offline": (exact("offline", "6-9", count="4"), "CPUs 8-9 are not online"),
            "size": (exact("size", "5-7"), "has 3 CPUs, the allocation 2"),
            "class": (exact("class", "5-6", source="FromClass"), "only from the claim"),
            "none": (claim("none", "cpudevmachine"), "machine mode needs the CPUs"),
        }
        refs = {k: t.add_claim(obj) for k, (obj, _) in cases.items()}
        out = await t.kubelet.prepare(list(refs.values()))
        for key, (_, message) in cases.items():
            assert message in out[refs[key].uid].error, (key, out[refs[key].uid].error)
