"""``drafast run cpu`` as a real process, with the command line the README gives, against a
fixture sysfs tree, the offline ``dir:`` cluster and the NRI runtime stand-in; and the peer's
config file read as it is."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import drafast

from drafast.k8s import DirStore, allocated_claim
from drafast.testing.nri import NriRuntime
from drafast.testing.process import wait_accepting
from drafast.testing.sysfs import SysfsSpec, write_sysfs

pytestmark = pytest.mark.integration
DRIVER = "dra.cpu"


def start(tmp_path: Path, *flags: str) -> subprocess.Popen[str]:
    host = write_sysfs(tmp_path / "host", SysfsSpec(cores_per_numa=4))
    argv = [
        sys.executable, "-m", "drafast", "run", "cpu", "--driver-name", DRIVER,
        "--node-name", "node-1", "--host-root", str(host),
        "--cluster", f"dir:{tmp_path / 'cluster'}", "--plugin-dir", str(tmp_path / "plugin"),
        "--registry-dir", str(tmp_path / "registry"), "--cdi-dir", str(tmp_path / "cdi"),
        "--bind-address", "", *flags,
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    reg = tmp_path / "registry" / f"{DRIVER}-reg.sock"
    wait_accepting(reg, proc, "drafast run cpu", stderr_piped=True)
    return proc


def a_claim(tmp_path: Path, name: str, count: str) -> tuple[str, str]:
    obj = allocated_claim(
        namespace="ns",
        name=name,
        driver=DRIVER,
        devices=[("cpus", "node-1", "cpudevnuma000")],
        pods=[f"pod-{name}"],
    )
    result = obj["status"]["allocation"]["devices"]["results"][0]
    result["shareID"] = "00000000-0000-0000-0000-000000000001"
    result["consumedCapacity"] = {f"{DRIVER}/cpu": count}
    DirStore(tmp_path / "cluster").put("resourceclaims", obj, "ns")
    uid = obj["metadata"]["uid"]
    return uid, f"ns/{name}/{uid}"


async def test_the_readme_command_line_prepares_and_pins(tmp_path: Path) -> None:
    async with NriRuntime(tmp_path / "nri.sock") as rt:
        proc = start(
            tmp_path, "--reserved-cpus", "0", "--cpu-device-mode", "grouped",
            "--group-by", "numanode", "--nri-socket", str(rt.socket),
        )  # fmt: skip
        try:
            await rt.wait_synchronized()
            [(_, slice_)] = DirStore(tmp_path / "cluster").list("resourceslices")
            [dev] = slice_["spec"]["devices"]
            assert dev["capacity"] == {f"{DRIVER}/cpu": {"value": "3"}}  # 4 CPUs, 0 reserved
            shared = await rt.create_container("web", "shared")
            assert shared.cpus == "1-3"
            uid, ref = a_claim(tmp_path, "c", "2")
            reg = str(tmp_path / "registry" / f"{DRIVER}-reg.sock")
            out = await asyncio.to_thread(
                drafast, "kubelet", "prepare", "--registration-socket", reg, ref
            )
            assert out.returncode == 0, out.stdout + out.stderr
            assert json.loads(out.stdout)[uid]["error"] == ""
            spec = json.loads((tmp_path / "cdi" / f"k8s.{DRIVER}-cpu_{uid}.json").read_text())
            [variable] = spec["devices"][0]["containerEdits"]["env"]
            name, cpus = variable.split("=")
            assert name == f"DRA_CPUSET_{uid}" and cpus == "1-2"
            pinned = await rt.create_container("job", "main", env={name: cpus})
            assert pinned.cpus == "1-2" and rt.containers[shared.id].cpus == "3"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 30) == 0, (
                proc.stderr.read() if proc.stderr else ""
            )


def test_the_peers_config_file_is_read_as_it_is(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: v1alpha1\ncpuDeviceMode: individual\ngroupBy: socket\nreservedCPUs: '0-1'\n"
    )
    proc = start(tmp_path, "--config", str(config), "--nri-socket", "")
    try:
        [(_, slice_)] = DirStore(tmp_path / "cluster").list("resourceslices")
        names = sorted(d["name"] for d in slice_["spec"]["devices"])
        assert names == ["cpudev000", "cpudev001"]  # CPUs 2 and 3
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("apiVersion: v1beta1\n", "apiVersion 'v1beta1': only v1alpha1 is read"),
        ("apiVersion: v1alpha1\nsysfsOverlay: x\n", "unknown settings sysfsOverlay"),
        ("cpuDeviceMode: grouped\ncpu_device_mode: grouped\n", "set the same setting"),
        ("reservedCPUs: '3-1'\n", "--reserved-cpus 3-1: cpulist '3-1': range '3-1' runs backwards"),
    ],
)
def test_a_bad_config_file_is_one_line_and_exit_2(
    tmp_path: Path, config: str, message: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    host = write_sysfs(tmp_path / "host", SysfsSpec(cores_per_numa=4))
    out = drafast(
        "run", "cpu", "--node-name", "n", "--host-root", str(host), "--config", str(path),
        "--cluster", f"dir:{tmp_path / 'cluster'}", "--plugin-dir", str(tmp_path / "p"),
        "--registry-dir", str(tmp_path / "r"), "--cdi-dir", str(tmp_path / "c"),
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not [p for p in tmp_path.rglob("*") if p.is_socket()]  # nothing left behind


def test_a_malformed_sysfs_tree_stops_the_start_naming_the_file(tmp_path: Path) -> None:
    host = write_sysfs(tmp_path / "host", SysfsSpec(cores_per_numa=4))
    online = host / "sys/devices/system/cpu/online"
    online.write_text("0-x\n")
    out = drafast(
        "run", "cpu", "--node-name", "n", "--host-root", str(host), "--nri-socket", "",
        "--cluster", f"dir:{tmp_path / 'cluster'}", "--plugin-dir", str(tmp_path / "p"),
        "--registry-dir", str(tmp_path / "r"), "--cdi-dir", str(tmp_path / "c"),
        "--bind-address", "",
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last == f"drafast: error: {online}: cpulist '0-x': 'x' is not a CPU number"
    assert not [p for p in tmp_path.rglob("*") if p.is_socket()]
