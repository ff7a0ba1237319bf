from __future__ import annotations

import sys
from pathlib import Path

import pytest

from drafast.testing.cluster.processes import Component, free_ports, wait_until


def test_component_logs_runs_and_stops_with_its_group(tmp_path: Path) -> None:
    code = "import os, time; print('hello', os.environ['X'], flush=True); time.sleep(60)"
    comp = Component(
        name="c", argv=[sys.executable, "-c", code], log=tmp_path / "c.log", env={"X": "y"}
    )
    comp.start()
    try:
        wait_until("the child's output", lambda: "hello y" in comp.tail(), timeout=30)
        assert comp.running()
        assert "==> starting " in comp.tail().splitlines()[1]
    finally:
        comp.stop(timeout=5)
    assert not comp.running()


def test_free_ports_are_distinct() -> None:
    ports = free_ports(4)
    assert len(set(ports)) == 4


def test_wait_until_names_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match="the impossible"):
        wait_until("the impossible", lambda: None, timeout=0.1, every=0.01)
