"""NodePrepareResources / NodeUnprepareResources over the real sockets, the plugin in its own
process, ``dir:`` cluster mode, durable checkpoint (fsync) included, through the public rig
(drafast.testing.bench). Every round checks its answers. pytest-benchmark times the prepare; the
unprepare of the previous round is timed in the (untimed) setup and reported as extra info.

Each case runs with two clients: ``go``, the kubelet's own grpc-go DRA client in a process of its
own (kubeletload, which times the calls itself), and ``python``, drafast's grpc.aio
KubeletClient in this process (timed here; its ~0.5 ms of CPU per call competes with the plugin
for the machine's cores)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drafast.app.schema import command_line
from drafast.app.settings import RunOptions
from drafast.testing.bench import Answer, PrepareRig, open_kubelet
from drafast.types import ClaimRef

from .conftest import DRIVER, file_driver

QUIET = command_line(RunOptions, {"log_level": "warning"})


class Rigs:
    """One plugin, one rig per client (sharing the plugin and its claim store)."""

    def __init__(self, root: Path, *extra: str) -> None:
        self.go = PrepareRig.start(root, "file", *QUIET, *extra, driver_options=file_driver(root))
        p = self.go.plugin
        assert self.go.kubelet.note.startswith("grpc-go"), "`make kubelet-load` (or go) needed"
        assert self.go.loop is not None
        python = open_kubelet("python", p.dra_socket, p.registration_socket, self.go.loop)
        self.python = PrepareRig(p, self.go.claims, python)

    def __getitem__(self, client: str) -> PrepareRig:
        return self.go if client == "go" else self.python

    def close(self) -> None:
        self.python.kubelet.close()
        leftover = self.go.leftover_cdi_specs()
        self.go.close()
        assert not leftover  # every spec was removed by its unprepare


def check_cdi(ref: ClaimRef, answer: Answer) -> None:
    [cdi_id] = answer.cdi_ids
    assert cdi_id.startswith(f"k8s.{DRIVER}/file={ref.uid}-file-"), cdi_id


@pytest.fixture(scope="module")
def rigs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rigs]:
    r = Rigs(tmp_path_factory.mktemp("bench-plugin"))
    yield r
    r.close()


@pytest.mark.parametrize("client", ["go", "python"])
@pytest.mark.parametrize(
    "case",  # (claims per round, concurrent calls they are split into, rounds)
    [(1, 1, 200), (64, 1, 30), (64, 64, 30)],
    ids=["1-claim", "64-claims-one-call", "64-concurrent-calls"],
)
def test_prepare(benchmark: Any, rigs: Rigs, case: tuple[int, int, int], client: str) -> None:
    n_claims, calls, rounds = case
    rigs[client].bench_prepare(
        benchmark, claims=n_claims, calls=calls, rounds=rounds, check=check_cdi
    )
