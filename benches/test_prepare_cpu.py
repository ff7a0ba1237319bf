"""NodePrepareResources for the CPU driver, measured like the file driver's: the plugin in its own
process, ``dir:`` cluster mode, durable checkpoint, CDI specs on tmpfs, the kubelet's own grpc-go
client (the public rig, drafast.testing.bench), against the 2-socket SMT fixture topology. Each
claim takes 2 CPUs of a NUMA node's capacity, so every prepare runs the native packer; every
answer is checked (its CDI ID, and a spec whose DRA_CPUSET_<uid> holds 2 CPUs).

Run:
    .venv/bin/python -m pytest benches/test_prepare_cpu.py -q
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from drafast.app.schema import command_line
from drafast.app.settings import RunOptions
from drafast.drivers.cpu.cpulist import parse_cpulist
from drafast.testing.bench import Answer, PrepareRig
from drafast.testing.sysfs import two_socket_smt, write_sysfs
from drafast.types import ClaimRef

DRIVER = "cpu.drafast.dev"
QUIET = command_line(RunOptions, {"log_level": "warning", "nri_socket": ""})


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrepareRig]:
    root = tmp_path_factory.mktemp("bench-cpu")
    host = write_sysfs(root / "host", two_socket_smt())
    r = PrepareRig.start(
        root,
        "cpu",
        *QUIET,
        driver_options={"host_root": host},
        consumed={f"{DRIVER}/cpu": "2"},
    )
    assert r.kubelet.note.startswith("grpc-go"), "`make kubelet-load` (or go) needed"
    yield r
    leftover = r.leftover_cdi_specs()
    r.close()
    assert not leftover


def checker(rig: PrepareRig) -> Any:
    def check(ref: ClaimRef, answer: Answer) -> None:
        [cdi_id] = answer.cdi_ids
        assert cdi_id.startswith(f"k8s.{DRIVER}/cpu={ref.uid}-"), cdi_id
        assert rig.cdi_dir is not None
        spec = orjson.loads((rig.cdi_dir / f"k8s.{DRIVER}-cpu_{ref.uid}.json").read_bytes())
        [env] = spec["devices"][0]["containerEdits"]["env"]
        name, cpus = env.split("=", 1)
        assert name == f"DRA_CPUSET_{ref.uid}" and len(parse_cpulist(cpus)) == 2

    return check


def test_prepare_one_cpu_claim(benchmark: Any, rig: PrepareRig) -> None:
    """The common case: one pod, one claim for 2 CPUs of a NUMA node."""
    rig.bench_prepare(benchmark, claims=1, rounds=200, warmup=5, check=checker(rig))


def test_prepare_32_cpu_claims_concurrently(benchmark: Any, rig: PrepareRig) -> None:
    """32 pods start at once, each with a 2-CPU claim (64 of the node's 128 CPUs), one call each."""
    rig.bench_prepare(benchmark, claims=32, calls=32, rounds=30, warmup=3, check=checker(rig))
