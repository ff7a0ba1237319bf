"""The echo driver's prepare as a kubelet calls it, with drafast's public benchmark rig: the
driver in its own process, fresh claims every round, the kubelet's Go DRA client (built on first
use when `go` is there, else drafast's Python client), every answer checked.

    pytest benches            (pytest-benchmark prints the table; --benchmark-json=... saves it)
"""

from pathlib import Path
from typing import Any

from drafast.testing.bench import Answer, PrepareRig
from drafast.types import ClaimRef


def check(ref: ClaimRef, answer: Answer) -> None:
    [cdi_id] = answer.cdi_ids  # the echo driver's one device, as a CDI device of its own class
    assert cdi_id.startswith(f"k8s.echo.example.com/echo={ref.uid}-echo-"), cdi_id


def test_prepare_one_claim(benchmark: Any, tmp_path: Path) -> None:
    with PrepareRig.start(tmp_path, "echo", driver_options={"echo_devices": 4}) as rig:
        rig.bench_prepare(benchmark, claims=1, rounds=50, check=check)


def test_prepare_16_concurrent_calls(benchmark: Any, tmp_path: Path) -> None:
    with PrepareRig.start(tmp_path, "echo", driver_options={"echo_devices": 4}) as rig:
        rig.bench_prepare(benchmark, claims=16, calls=16, rounds=10, check=check)
