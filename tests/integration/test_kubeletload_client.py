"""The Go kubelet stand-in the prepare benchmarks use (benches/kubeletload: the kubelet's own
grpc-go DRA client) against a real plugin on real Unix sockets, so the benchmarks' client is
known to work. The binary comes from `make kubelet-load`; without it these tests fail."""

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from drafast.app.settings import RunOptions
from drafast.testing import allocated_claim, running_plugin

pytestmark = pytest.mark.integration
DRIVER = "file.drafast.dev"


def _goclient() -> ModuleType:
    """benches/goclient.py, loaded by path: benches/ is not on the tests' import path."""
    path = Path(__file__).resolve().parents[2] / "benches" / "goclient.py"
    spec = importlib.util.spec_from_file_location("_kubeletload_goclient", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


goclient = _goclient()


async def test_prepare_and_unprepare_two_claims_in_two_calls(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        refs = [
            t.add_claim(
                allocated_claim(
                    namespace="ns",
                    name=f"c{i}",
                    driver=DRIVER,
                    devices=[("req", "node-1", device)],
                    pods=["pod-a"],
                )
            )
            for i, device in enumerate(("alpha", "beta"))
        ]
        specs = [t.plugin.cdi.path(r.uid) for r in refs]
        # Started inside the test: a missing binary fails it, naming `make kubelet-load`.
        go = goclient.GoKubelet(t.plugin.server.paths.dra)
        try:
            # The client blocks on its pipe: off the loop, which serves the plugin.
            seconds, results = await asyncio.to_thread(go.prepare, [[refs[0]], [refs[1]]])
            assert 0 < seconds < 45
            assert results == [
                {
                    r.uid: goclient.Answer("", 1, (f"k8s.{DRIVER}/file={r.uid}-{device}",)),
                }
                for r, device in zip(refs, ("alpha", "beta"), strict=True)
            ]
            assert all(s.is_file() for s in specs)

            seconds, results = await asyncio.to_thread(go.unprepare, [[refs[0]], [refs[1]]])
            assert 0 < seconds < 45
            assert results == [{r.uid: goclient.Answer("", 0, ())} for r in refs]
            assert not any(s.exists() for s in specs)
        finally:
            await asyncio.to_thread(go.close)  # EOF on stdin: the client must exit 0


def test_a_missing_binary_names_the_make_target(tmp_path: Path) -> None:
    with pytest.raises(goclient.GoKubeletError, match="make kubelet-load"):
        goclient.GoKubelet(tmp_path / "dra.sock", binary=tmp_path / "no-such-kubeletload")
