"""The README's "Writing a driver" example, run as written: in-process through the test kit, and
as a ``drafast run`` process found by ``module:attr`` and by a ``drafast.drivers`` entry point."""

import asyncio
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import orjson
import pytest

from drafast.k8s import DirStore
from drafast.testing import allocated_claim, plugin_options, running_plugin, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLE = ROOT / "deploy" / "examples" / "embed" / "src" / "echo_driver" / "__init__.py"
DRIVER = "echo.example.com"


def readme_example() -> str:
    section = README.read_text().split("## Writing a driver", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's 'Writing a driver' section has no python block"
    return match.group(1)


def test_the_embed_example_is_the_readme_example() -> None:
    assert EXAMPLE.read_text() == readme_example()


@pytest.fixture
def echo_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "echo_driver.py").write_text(readme_example())
    monkeypatch.syspath_prepend(str(src))
    sys.modules.pop("echo_driver", None)
    yield importlib.import_module("echo_driver")
    sys.modules.pop("echo_driver", None)


async def test_the_readme_driver_works_end_to_end(tmp_path: Path, echo_module: ModuleType) -> None:
    async with running_plugin(plugin_options(tmp_path), kind=echo_module.KIND) as t:
        assert t.plugin.opts.driver_name == DRIVER  # the KIND's default name
        [sl] = [o for _, o in t.store.list("resourceslices")]
        assert sl["spec"]["driver"] == DRIVER
        assert [d["name"] for d in sl["spec"]["devices"]] == [f"echo-{i}" for i in range(4)]
        obj = allocated_claim(
            namespace="ns",
            name="c",
            driver=DRIVER,
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


async def test_its_settings_come_from_its_schema(tmp_path: Path, echo_module: ModuleType) -> None:
    opts = plugin_options(tmp_path, driver_options={"echo_devices": "2"})
    async with running_plugin(opts, kind=echo_module.KIND) as t:
        [sl] = [o for _, o in t.store.list("resourceslices")]
        assert [d["name"] for d in sl["spec"]["devices"]] == ["echo-0", "echo-1"]


def _drafast(root: Path, driver: str, env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "drafast", "run", driver, "--node-name", "node-1"]
    cmd += ["--plugin-dir", str(root / "p"), "--registry-dir", str(root / "r")]
    cmd += ["--cdi-dir", str(root / "cdi"), "--cluster", f"dir:{root / 'cluster'}"]
    cmd += ["--bind-address", "", "--echo-devices", "3"]
    return subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("how", ["module:attr", "entry point"])
async def test_it_runs_as_a_drafast_process(
    tmp_path: Path, echo_module: ModuleType, how: str
) -> None:
    src = Path(echo_module.__file__ or "").parent
    driver = "echo_driver:KIND"
    if how == "entry point":  # what `pip install` of a project with the entry point leaves
        dist = src / "echo_driver-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-driver\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text("[drafast.drivers]\necho = echo_driver:KIND\n")
        driver = "echo"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), *sys.path])}
    proc = _drafast(tmp_path, driver, env)
    try:
        reg = tmp_path / "r" / f"{DRIVER}-reg.sock"
        await wait_until("the registration socket", lambda: reg.exists() or proc.poll(), 30)
        assert proc.poll() is None, proc.communicate()[1]
        store = DirStore(tmp_path / "cluster")
        [(_, sl)] = store.list("resourceslices")
        assert [d["name"] for d in sl["spec"]["devices"]] == ["echo-0", "echo-1", "echo-2"]
        obj = allocated_claim(
            namespace="ns", name="c", driver=DRIVER, devices=[("a", "node-1", "echo-2")]
        )
        store.put("resourceclaims", obj, "ns")
        uid = obj["metadata"]["uid"]
        kubelet = [sys.executable, "-m", "drafast", "kubelet", "prepare"]
        out = await asyncio.to_thread(
            subprocess.run,
            [*kubelet, "--registration-socket", str(reg), f"ns/c/{uid}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert json.loads(out.stdout)[uid]["error"] == ""
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
