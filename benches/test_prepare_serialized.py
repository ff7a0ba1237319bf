"""The Go helper's default -- one kubelet call at a time -- for the ratio against drafast's
concurrent core (same rig as test_prepare_e2e, plugin started with --serialize)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from drafast.app.schema import command_line
from drafast.app.settings import RunOptions

from .test_prepare_e2e import Client, Rig, Rounds


@pytest.fixture(scope="module")
def serial_rig(
    tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[Rig]:
    serialize = command_line(RunOptions, {"serialize": True})
    r = Rig(tmp_path_factory.mktemp("bench-serial"), loop, *serialize)
    yield r
    r.close()


@pytest.mark.parametrize("client", ["go", "python"])
def test_prepare_64_concurrent_calls_serialized(
    benchmark: Any, serial_rig: Rig, client: Client
) -> None:
    """The Go helper's default (one call at a time), for the ratio against the concurrent core."""
    Rounds(serial_rig, 64, 64, client=client).run(benchmark, 15)
