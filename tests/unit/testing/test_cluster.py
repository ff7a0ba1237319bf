"""The package's lazy re-exports (``drafast/testing/cluster/__init__.py``)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

from drafast.testing import cluster


def test_exports_match_the_type_checking_imports_and_all() -> None:
    tree = ast.parse(Path(cluster.__file__ or "").read_text())
    imported = {
        alias.asname or alias.name: node.module.rsplit(".", 1)[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and ".cluster." in node.module
        for alias in node.names
    }
    assert imported == cluster._EXPORTS
    assert sorted(cluster.__all__) == sorted(cluster._EXPORTS)


def test_every_export_is_defined_where_the_table_says() -> None:
    for name, module in cluster._EXPORTS.items():
        defined = getattr(importlib.import_module(f"drafast.testing.cluster.{module}"), name)
        assert getattr(cluster, name) is defined


def test_importing_the_package_imports_no_harness() -> None:
    # else `python -m drafast.testing.cluster.node` would run a second copy of the module
    code = (
        "import sys, drafast.testing.cluster as c; "
        "print(sorted(m for m in sys.modules if m.startswith('drafast.testing.cluster.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
