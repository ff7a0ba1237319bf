"""NX-gzip probe: drafast._native.nx_probe vs the pure-Python reference
(tests/native/reference_nx.py) on the fixture host roots (tests/fixtures/nx_fixture/trees.py).

The driver probes at start, on every slice resync and when a claim names a device it has not
seen; the large PowerNV tree is about the size of a real two-socket POWER9 device tree. Every
benchmark also checks its result. Run:
    .venv/bin/python -m pytest benches/test_native_nx.py -q
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nx_fixture import trees

from drafast import _native

from .conftest import reference

ROOT = Path(__file__).resolve().parents[1]


ref = reference("reference_nx")
IMPLS = ["native", "reference"]
ROUNDS = {"lpar-nx": 500, "lpar-no-nx": 500, "powernv-2chip": 500, "powernv-large": 30}
# tree -> (platform, number of NX units)
EXPECTED = {
    "lpar-nx": ("powervm", 0),
    "lpar-no-nx": ("", 0),
    "powernv-2chip": ("powernv", 2),
    "powernv-large": ("powernv", 2),
}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("nx-trees")
    out = {}
    for name in ROUNDS:
        root = trees.build(name, base / name)
        trees.make_device_node(root)  # numbers from stat when we may mknod, else from sysfs
        out[name] = str(root)
    return out


@pytest.mark.parametrize("tree", sorted(ROUNDS))
@pytest.mark.parametrize("impl", IMPLS)
def test_probe(benchmark: Any, roots: dict[str, str], tree: str, impl: str) -> None:
    benchmark.group = f"nx probe {tree}"
    probe = _native.nx_probe if impl == "native" else ref.probe
    result = benchmark.pedantic(probe, (roots[tree],), rounds=ROUNDS[tree], warmup_rounds=2)
    platform, units = EXPECTED[tree]
    assert (result.platform, len(result.engines)) == (platform, units)
    assert result.usable == bool(platform)
    if platform == "powervm":
        assert result.vio is not None and result.vio.default_credits_total == 240
    if units:
        assert [e.chip_id for e in result.engines] == [0, 8]
