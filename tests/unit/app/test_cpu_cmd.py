"""``drafast cpu`` in process: output formats, one-line errors, and the exact call pack makes
to the native packer (a stand-in here; the real one is tested in test_cpu_pack_cli)."""

import json
from pathlib import Path

import pytest

from drafast.app import cpu_cmd
from drafast.testing.sysfs import this_machine, two_socket_smt, write_sysfs


def test_topology_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_sysfs(tmp_path, this_machine())
    assert cpu_cmd.main(["topology", "--host-root", str(root), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["online"] == "0-1" and doc["smt"] is False
    assert [c["core"] for c in doc["cpus"]] == [0, 1]


def test_topology_table_is_aligned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_sysfs(tmp_path, two_socket_smt())
    assert cpu_cmd.main(["topology", "--host-root", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 129
    assert lines[-1].endswith("standard  63")  # cpu 127, sibling 63
    assert lines[0].index("SIBLINGS") == lines[-1].rindex("63")


def test_bad_tree_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cpu_cmd.main(["topology", "--host-root", str(tmp_path)]) == 2
    out = capsys.readouterr()
    online = tmp_path / "sys/devices/system/cpu/online"
    assert (out.out, out.err) == ("", f"drafast: error: {online}: does not exist\n")


def test_bad_flag_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cpu_cmd.main(["pack", "--count", "-3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "drafast: error: cpu pack: argument --count: -3: must be at least 1 "
        "(see drafast cpu pack --help)\n"
    )


def test_pack_reserves_and_picks_whole_cores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_sysfs(tmp_path, two_socket_smt())
    argv = ["pack", "--host-root", str(root), "--count", "4", "--reserved", "0-3,64-67"]
    assert cpu_cmd.main([*argv, "--full-cores"]) == 0
    assert capsys.readouterr().out == "4-5,68-69\n"  # two whole cores after the reserved ones
