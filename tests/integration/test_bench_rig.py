"""The public prepare benchmark rig (drafast.testing.bench) on real sockets: a plugin process of
any driver kind, claims from its published devices, both kubelet stand-ins, every answer
checked; and the fallback to the Python client when there is no Go one."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from drafast.testing.bench import (
    Answer,
    PrepareRig,
    PythonKubelet,
    build_kubeletload,
    kubeletload_path,
    percentiles,
)
from drafast.testing.bench.kubelet import SOURCE_DIR, SOURCES
from drafast.types import ClaimRef

pytestmark = pytest.mark.integration


class FakeBenchmark:
    """pytest-benchmark's pedantic mode, just enough of it: setup, then the timed function."""

    def __init__(self) -> None:
        self.extra_info: dict[str, Any] = {}

    def pedantic(self, fn: Any, *, setup: Any, rounds: int, iterations: int) -> None:
        assert iterations == 1
        for _ in range(rounds):
            setup()
            fn()


def _files(root: Path, n: int) -> dict[str, Any]:
    d = root / "files"
    d.mkdir(parents=True)
    for i in range(n):
        (d / f"f{i}").write_text("")
    return {"resource_dir": d}


@pytest.mark.parametrize("client", ["go", "python"])
def test_the_rig_prepares_and_unprepares_checked_rounds(tmp_path: Path, client: Any) -> None:
    seen: list[ClaimRef] = []

    def check(ref: ClaimRef, a: Answer) -> None:
        seen.append(ref)
        [cdi_id] = a.cdi_ids
        assert cdi_id.startswith(f"k8s.file.drafast.dev/file={ref.uid}-f")

    with PrepareRig.start(
        tmp_path, "file", driver_options=_files(tmp_path, 3), client=client
    ) as rig:
        assert rig.plugin.ready_seconds > 0 and rig.plugin.rss_kib() > 0
        bench = FakeBenchmark()
        rounds = rig.bench_prepare(bench, claims=4, calls=2, rounds=3, warmup=1, check=check)
        assert len(seen) == 16 and len({r.uid for r in seen}) == 16  # 4 rounds x 4 fresh claims
        assert len(rounds.prepare_s) == 4 and len(rounds.unprepare_s) == 4
        assert bench.extra_info["rounds"] == 3 and bench.extra_info["p50_ms"] > 0
        assert bench.extra_info["client"] == rig.kubelet.note
        assert rig.leftover_cdi_specs() == []
        assert rig.plugin.cpu_seconds() > 0


def test_a_wrong_answer_fails_the_round(tmp_path: Path) -> None:
    def check(ref: ClaimRef, a: Answer) -> None:
        raise AssertionError("not this one")

    with PrepareRig.start(
        tmp_path, "file", driver_options=_files(tmp_path, 1), client="python"
    ) as rig:
        with pytest.raises(AssertionError, match="not this one"):
            rig.bench_prepare(FakeBenchmark(), claims=1, rounds=1, warmup=0, check=check)
        rig.rounds(1).unprepare_current()


def test_without_go_the_rig_says_it_uses_the_python_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRAFAST_KUBELETLOAD", str(tmp_path / "none" / "kubeletload"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no go here
    with PrepareRig.start(tmp_path / "r", "file", driver_options=_files(tmp_path, 1)) as rig:
        assert isinstance(rig.kubelet, PythonKubelet)
        assert "no Go client" in rig.kubelet.note and "'go' is not in PATH" in rig.kubelet.note


def test_the_go_sources_are_package_data_hashed_like_the_makefile_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert sorted(p.name for p in SOURCE_DIR.iterdir()) == sorted(SOURCES)
    monkeypatch.delenv("DRAFAST_KUBELETLOAD", raising=False)
    db = subprocess.run(
        ["make", "-C", str(Path(__file__).resolve().parents[2]), "-p", "-n", "help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [line] = [ln for ln in db.splitlines() if ln.startswith("DRAFAST_KUBELETLOAD :=")]
    assert Path(line.split(":=", 1)[1].strip()) == kubeletload_path()
    assert build_kubeletload().is_file()  # built (or reused): the binary `make kubelet-load` makes


def test_percentiles_are_nearest_rank() -> None:
    got = percentiles([i / 1000 for i in range(1, 101)])
    assert got["rounds"] == 100 and got["p50_ms"] == pytest.approx(50.5)
    assert got["p99_ms"] == pytest.approx(99)
