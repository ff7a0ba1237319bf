"""CDI: drafast._native vs the pure-Python reference (tests/native/reference_cdi.py).

Every benchmark also checks its result. Run:
    .venv/bin/python -m pytest benches/test_native_cdi.py -q
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drafast import _native

from .conftest import reference

ref = reference("reference_cdi")
IMPLS = ["native", "reference"]
ROUNDS = 300

UID = "9f1c6a44-3b2d-4e5f-8a9b-0c1d2e3f4a5b"
# A typical per-claim spec: 3 devices, each with env + device node + mount.
SPEC = json.dumps(
    {
        "kind": "k8s.gpu.example.com/gpu",
        "devices": [
            {
                "name": f"{UID}-gpu-{i}",
                "containerEdits": {
                    "env": [f"GPU_DEVICE_{i}=gpu-{i}", f"DRA_CLAIM_UID={UID}"],
                    "deviceNodes": [
                        {
                            "path": f"/dev/gpu{i}",
                            "type": "c",
                            "major": 195,
                            "minor": i,
                            "permissions": "rw",
                        }
                    ],
                    "mounts": [
                        {
                            "hostPath": f"/var/lib/gpu/{i}",
                            "containerPath": f"/gpu/{i}",
                            "options": ["ro", "bind"],
                        }
                    ],
                },
            }
            for i in range(3)
        ],
    }
).encode()
EXPECTED = ref.render(SPEC)


def test_expected_is_native_output() -> None:
    assert _native.cdi_render_spec(SPEC) == EXPECTED
    assert json.loads(EXPECTED)["cdiVersion"] == "0.5.0"  # device names start with a digit


@pytest.mark.parametrize("impl", IMPLS)
def test_render(benchmark: Any, impl: str) -> None:
    benchmark.group = "cdi render claim spec (3 devices)"
    render = _native.cdi_render_spec if impl == "native" else ref.render
    assert benchmark.pedantic(render, (SPEC,), rounds=ROUNDS, warmup_rounds=1) == EXPECTED


@pytest.mark.parametrize("impl", IMPLS)
def test_write_spec(benchmark: Any, tmp_path: Path, impl: str) -> None:
    """Render + temp file + rename over the previous version."""
    benchmark.group = "cdi write claim spec"
    write = _native.cdi_write_spec if impl == "native" else ref.write_spec
    name = f"k8s.gpu.example.com-gpu_{UID}.json"
    path = benchmark.pedantic(write, (str(tmp_path), name, SPEC), rounds=ROUNDS, warmup_rounds=1)
    assert path == str(tmp_path / name)
    assert Path(path).read_bytes() == EXPECTED
    assert [p.name for p in tmp_path.iterdir()] == [name]
