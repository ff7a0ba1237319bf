"""The Go kubelet stand-in of the public benchmark rig (drafast.testing.bench; Go sources in
drafast/testing/kubeletload: the kubelet's own grpc-go DRA client) against a real plugin on real
Unix sockets, so the benchmarks' client is known to work. The binary comes from `make
kubelet-load`; without it these tests fail."""

import asyncio
import subprocess
from pathlib import Path

import pytest

from drafast.app.settings import RunOptions
from drafast.kubelet.client import KubeletClient
from drafast.testing import allocated_claim, running_plugin
from drafast.testing.bench import Answer, GoKubelet, KubeletLoadError, kubeletload_path
from drafast.testing.process import wait_accepting
from drafast.types import ClaimRef, ClaimUID

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


def test_serve_noop_answers_every_claim_and_stops_on_sigterm(tmp_path: Path) -> None:
    # kubeletload's other side: grpc-go's no-op DRA plugin (benches/test_grpc_floor.py).
    socket = tmp_path / "noop.sock"
    refs = [ClaimRef(namespace="ns", name=f"c{i}", uid=ClaimUID(f"uid-{i}")) for i in range(3)]

    async def calls() -> None:
        async with KubeletClient(dra_socket=socket) as client:
            prepared = await client.prepare(refs)
            assert {uid: (r.error, r.devices) for uid, r in prepared.items()} == {
                r.uid: ("", ()) for r in refs
            }
            unprepared = await client.unprepare(refs[:2])
            assert {uid: r.error for uid, r in unprepared.items()} == {r.uid: "" for r in refs[:2]}

    proc = subprocess.Popen([str(kubeletload_path()), "-serve-noop", str(socket)])
    try:
        wait_accepting(socket, proc, "kubeletload -serve-noop")
        asyncio.run(calls())
    finally:
        proc.terminate()
        code = proc.wait(30)
    assert code == 0
    assert not socket.exists()  # the listener went with it
