"""Shared benchmark fixtures: a uvloop in its own thread, the file driver's rig options, and the
pure-Python references of the native code. The rig itself is public: drafast.testing.bench."""

from __future__ import annotations

import compileall
import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from drafast.testing.bench import BackgroundLoop
from drafast.testing.bins import default_bin_dir, missing_binaries
from drafast.testing.cluster import ControlPlane

DRIVER = "file.drafast.dev"
FILES = 8  # the file driver's devices in these benches: files file-0 .. file-7
NODE = "bench-node"  # the node of the benches against a real API server
NS = "bench"


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    lp = BackgroundLoop()
    yield lp
    lp.close()


@contextlib.contextmanager
def control_plane(root: Path) -> Iterator[ControlPlane]:
    """A real etcd + kube-apiserver + scheduler + controller-manager with node NODE and
    namespace NS (`make cluster-bins` builds the binaries)."""
    bins = default_bin_dir()
    assert not missing_binaries(bins), "run `make cluster-bins` first"
    plane = ControlPlane.start(bins, root)
    try:
        plane.api.create(
            "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}
        )
        plane.api.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        )
        yield plane
    finally:
        plane.stop()


def reference(name: str) -> ModuleType:
    """A pure-Python reference implementation from ``tests/native`` (not an importable package
    from here), for native-vs-reference benchmarks."""
    path = Path(__file__).resolve().parents[1] / "tests" / "native" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def file_driver(root: Path, files: int = FILES) -> dict[str, Any]:
    """The file driver's options with ``files`` resource files made under ``root/files``."""
    d = root / "files"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (d / f"file-{i}").write_text("")
    return {"resource_dir": d}


def pytest_configure(config: pytest.Config) -> None:
    # Every benchmark times its own rounds (pedantic mode, fixed round counts) and checks every
    # answer; with --benchmark-disable pytest-benchmark runs each once, which measures nothing.
    if config.getoption("benchmark_disable", default=False):
        raise pytest.UsageError(
            "benches/ cannot run with --benchmark-disable: every benchmark times its own rounds;"
            " select fewer with -k instead"
        )
    # Plugin processes start from compiled bytecode, as from an installed wheel (pip compiles
    # at install), even where PYTHONDONTWRITEBYTECODE is set: compiling ~100 modules from
    # source would add ~45 ms to every start -> GetInfo sample on this machine.
    package = Path(__file__).resolve().parents[1] / "python" / "drafast"
    assert compileall.compile_dir(package, quiet=1), f"cannot compile {package}"
