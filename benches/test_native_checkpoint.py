"""Checkpoint: drafast._native vs the pure-Python reference (tests/native/reference_checkpoint.py).

Every benchmark also checks its result. Run:
    .venv/bin/python -m pytest benches/test_native_checkpoint.py -q
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drafast import _native

from .conftest import reference

ref = reference("reference_checkpoint")
IMPLS = ["native", "reference"]
# Rounds per implementation: the reference computes crc32c in pure Python.
ROUNDS = {"native": 200, "reference": 10}


def claim_record(i: int) -> tuple[str, bytes]:
    """A prepared-claim record of the size a DRA driver checkpoints (~400 bytes)."""
    uid = f"{i:08x}-1b2c-4d5e-8f90-{i:012x}"
    record = {
        "uid": uid,
        "namespace": "default",
        "name": f"claim-{i}",
        "state": "prepared",
        "devices": [
            {
                "pool": "node-1",
                "device": f"gpu-{i % 8}",
                "request": "gpu",
                "cdi": [f"k8s.gpu.example.com/gpu={uid}-gpu-{i % 8}"],
            }
        ],
    }
    return f"default/claim-{i}", json.dumps(record, separators=(",", ":")).encode()


RECORDS = {n: [claim_record(i) for i in range(n)] for n in (64, 1024)}


def run(benchmark: Any, impl: str, fn: Callable[..., Any], *args: Any) -> Any:
    return benchmark.pedantic(fn, args, rounds=ROUNDS[impl], warmup_rounds=1)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("count", [64, 1024])
def test_encode(benchmark: Any, impl: str, count: int) -> None:
    benchmark.group = f"checkpoint encode {count} records"
    encode = _native.encode_checkpoint if impl == "native" else ref.encode
    image = run(benchmark, impl, encode, 7, RECORDS[count])
    assert image == ref.encode(7, RECORDS[count])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("count", [64, 1024])
def test_decode(benchmark: Any, impl: str, count: int) -> None:
    benchmark.group = f"checkpoint decode {count} records"
    image = _native.encode_checkpoint(7, RECORDS[count])
    decode = _native.decode_checkpoint if impl == "native" else ref.decode
    assert run(benchmark, impl, decode, image, "ckpt") == (7, sorted(RECORDS[count]))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("count", [1, 64])
def test_commit(benchmark: Any, tmp_path: Path, impl: str, count: int) -> None:
    """One durable commit of `count` records into a store of 64: a journal append and its
    fdatasync, and now and then a compaction (temp file, fsync, rename, directory fsync), as a
    plugin's commits run."""
    benchmark.group = f"checkpoint commit {count} record(s), fsync included"
    path = tmp_path / "ckpt"
    store = _native.Checkpoint(str(path)) if impl == "native" else ref.Store(str(path))
    store.commit(RECORDS[64], [])
    puts = RECORDS[64][:count]
    start = store.generation
    generation = run(benchmark, impl, store.commit, puts, [])
    assert generation == store.generation > start  # one generation per round (and warmup)
    assert _native.load_checkpoint(str(path)) == (generation, sorted(RECORDS[64]))
