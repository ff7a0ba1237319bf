"""drafast as others get it: the built wheel in a brand-new virtualenv with plain ``pip install``
(``drafast demo`` runs; the embed example builds, runs as ``drafast run echo`` and passes its own
test and benchmark through ``drafast.testing``), and the sdist building from source."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_build import ROOT, run

pytestmark = pytest.mark.packaging
EMBED = ROOT / "deploy" / "examples" / "embed"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    maturin = Path(sys.executable).parent / "maturin"
    run(maturin, "build", "--release", "--locked", "--out", out, cwd=ROOT)
    run(maturin, "sdist", "--out", out, cwd=ROOT)
    return out


def fresh_venv(where: Path) -> Path:
    python = shutil.which("python3.11") or sys.executable
    run(python, "-m", "venv", where)
    return where / "bin"


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    bin_dir = fresh_venv(tmp_path_factory.mktemp("venv") / "v")
    [wheel] = dist.glob("drafast-*.whl")
    run(bin_dir / "pip", "install", "--quiet", wheel)
    yield bin_dir


def test_the_wheel_carries_the_package_and_its_types_only(dist: Path) -> None:
    [wheel] = dist.glob("drafast-*.whl")
    assert "-cp311-abi3-manylinux" in wheel.name, wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert "drafast/py.typed" in names and "drafast/_native.pyi" in names
    assert any(n.startswith("drafast/_native.abi3") for n in names)
    assert any(n.endswith("/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "benches/", "deploy/"))]
    # the Go kubelet stand-in's sources: drafast.testing.bench builds them on first use
    go = {f"drafast/testing/kubeletload/{f}" for f in ("go.mod", "go.sum", "main.go")}
    assert go <= set(names), sorted(go - set(names))
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in meta and "Project-URL: Homepage" in meta


def test_demo_runs_from_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    out = run(venv / "drafast", "demo", cwd=tmp_path, timeout=300)
    assert "[FAILED]" not in out and out.count("[ok]") >= 8, out
    version = run(venv / "drafast", "--version")
    assert version.startswith("drafast 0."), version


def test_the_embed_example_builds_runs_and_passes_its_test(venv: Path, tmp_path: Path) -> None:
    shutil.copytree(EMBED, tmp_path / "embed")  # build in a copy: nothing written into the repo
    run(venv / "pip", "install", "--quiet", f"{tmp_path / 'embed'}[test]")
    results = tmp_path / "bench.json"
    run(
        venv / "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--benchmark-json={results}",
        "tests",
        "benches",
        cwd=tmp_path / "embed",
    )
    # its benchmark: the public rig, the Go client built from the wheel's sources (or reused from
    # the cache) when go is there, every round counted
    benches = json.loads(results.read_text())["benchmarks"]
    assert {b["name"] for b in benches} >= {"test_prepare_one_claim"}
    for b in benches:
        x = b["extra_info"]
        assert x["rounds"] > 0 and x["p50_ms"] > 0 and x["unprepare_p50_ms"] > 0, x
        want = "grpc-go" if shutil.which("go") else "grpc.aio in this process (no Go client"
        assert x["client"].startswith(want), x
    # its entry point makes it a `drafast run` driver, as a DaemonSet would start it
    help_text = run(venv / "drafast", "run", "echo", "--help")
    assert "--echo-devices" in help_text and "ECHO_DEVICES" in help_text
    where = ["--plugin-dir", tmp_path / "p", "--registry-dir", tmp_path / "r"]
    where += ["--cdi-dir", tmp_path / "cdi", "--cluster", f"dir:{tmp_path / 'c'}"]
    proc = subprocess.Popen(
        [venv / "drafast", "run", "echo", "--node-name", "n1", "--bind-address", "", *where],
        stderr=subprocess.PIPE,
        text=True,
    )
    reg = tmp_path / "r" / "echo.example.com-reg.sock"
    deadline = time.monotonic() + 60
    while not reg.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert reg.exists() is False and proc.returncode == 0, err
    assert "serving" in err


def test_the_sdist_builds_and_installs(dist: Path, tmp_path: Path) -> None:
    [sdist] = dist.glob("drafast-*.tar.gz")
    bin_dir = fresh_venv(tmp_path / "v")
    run(bin_dir / "pip", "install", "--quiet", sdist, timeout=1800)  # compiles the Rust crates
    out = run(bin_dir / "python", "-c", "import drafast._native, drafast.app.cli; print('ok')")
    assert out.strip() == "ok"
