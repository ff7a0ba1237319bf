"""The Go kubelet stand-in of the public benchmark rig (drafast.testing.bench; Go sources in
drafast/testing/kubeletload: the kubelet's own grpc-go DRA client) against a real plugin on real
Unix sockets, so the benchmarks' client is known to work. The binary comes from `make
kubelet-load`; without it these tests fail."""

import asyncio
from pathlib import Path

import pytest

from drafast.app.settings import RunOptions
from drafast.testing import allocated_claim, running_plugin
from drafast.testing.bench import Answer, GoKubelet, KubeletLoadError

pytestmark = pytest.mark.integration
DRIVER = "file.drafast.dev"


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
        go = GoKubelet(t.plugin.server.paths.dra)
        try:
            # The client blocks on its pipe: off the loop, which serves the plugin.
            seconds, results = await asyncio.to_thread(go.prepare, [[refs[0]], [refs[1]]])
            assert 0 < seconds < 45
            assert results == [
                {
                    r.uid: Answer("", 1, (f"k8s.{DRIVER}/file={r.uid}-{device}",)),
                }
                for r, device in zip(refs, ("alpha", "beta"), strict=True)
            ]
            assert all(s.is_file() for s in specs)

            seconds, results = await asyncio.to_thread(go.unprepare, [[refs[0]], [refs[1]]])
            assert 0 < seconds < 45
            assert results == [{r.uid: Answer("", 0, ())} for r in refs]
            assert not any(s.exists() for s in specs)
        finally:
            await asyncio.to_thread(go.close)  # EOF on stdin: the client must exit 0


def test_a_missing_binary_names_the_make_target(tmp_path: Path) -> None:
    with pytest.raises(KubeletLoadError, match="make kubelet-load"):
        GoKubelet(tmp_path / "dra.sock", binary=tmp_path / "no-such-kubeletload")
