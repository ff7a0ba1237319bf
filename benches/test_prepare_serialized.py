"""The Go helper's default -- one kubelet call at a time -- for the ratio against drafast's
concurrent core (same rig as test_prepare_e2e, plugin started with --serialize)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from drafast.app.schema import command_line
from drafast.app.settings import RunOptions

from .test_prepare_e2e import Rigs, check_cdi


@pytest.fixture(scope="module")
def serial_rigs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rigs]:
    r = Rigs(
        tmp_path_factory.mktemp("bench-serial"), *command_line(RunOptions, {"serialize": True})
    )
    yield r
    r.close()


@pytest.mark.parametrize("client", ["go", "python"])
def test_prepare_64_concurrent_calls_serialized(
    benchmark: Any, serial_rigs: Rigs, client: str
) -> None:
    """The Go helper's default (one call at a time), for the ratio against the concurrent core."""
    serial_rigs[client].bench_prepare(benchmark, claims=64, calls=64, rounds=15, check=check_cdi)
