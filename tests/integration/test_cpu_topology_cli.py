"""``drafast cpu topology`` as its own process: JSON and table on fixture trees and on this
host; a bad tree or a bad flag is one ``drafast: error:`` line and exit 2."""

import json
import subprocess
from pathlib import Path

import pytest
from cli_run import drafast

from drafast.testing.sysfs import hybrid_laptop, this_machine, two_socket_smt, write_sysfs

pytestmark = pytest.mark.integration
CPU = "sys/devices/system/cpu"


def assert_one_line_error(out: subprocess.CompletedProcess[str], expected: str) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stdout == ""
    errors = [line for line in out.stderr.splitlines() if line.startswith("drafast: error:")]
    assert len(errors) == 1, out.stderr
    assert expected in errors[0], errors[0]


def test_json_on_two_sockets(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, two_socket_smt())
    out = drafast("cpu", "topology", "--host-root", str(root), "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["online"], doc["smt"], len(doc["cpus"])) == ("0-127", True, 128)
    assert [c["id"] for c in doc["cpus"]] == list(range(128))
    assert doc["cpus"][69] == {
        "id": 69,
        "socket": 0,
        "numa": 0,
        "core": 5,
        "core_id": 5,
        "cluster": -1,
        "l3": 0,
        "uncore": 0,
        "core_type": "standard",
        "siblings": [5],
    }


def test_table_on_a_hybrid_laptop(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, hybrid_laptop())
    out = drafast("cpu", "topology", "--host-root", str(root))
    assert out.returncode == 0, out.stderr
    header, *rows = [line.split() for line in out.stdout.splitlines()]
    assert header == [
        "CPU", "SOCKET", "NUMA", "CORE", "CORE_ID", "CLUSTER", "L3", "UNCORE", "TYPE", "SIBLINGS"
    ]  # fmt: skip
    assert len(rows) == 20
    assert rows[3] == ["3", "0", "0", "2", "4", "-1", "0", "0", "p-core", "2"]
    assert rows[12] == ["12", "0", "0", "12", "24", "-1", "0", "0", "e-core", "-"]


def test_host_root_from_the_environment(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    out = drafast("cpu", "topology", "--format", "json", env={"HOST_ROOT": str(root)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["online"] == "0-1"


def test_this_host() -> None:
    out = drafast("cpu", "topology", "--host-root", "/", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["online"] == Path("/sys/devices/system/cpu/online").read_text().strip()
    assert doc["cpus"]


def test_bad_trees(tmp_path: Path) -> None:
    root = write_sysfs(tmp_path, this_machine())
    core_id = root / CPU / "cpu1" / "topology" / "core_id"
    core_id.write_text("x\n")
    out = drafast("cpu", "topology", "--host-root", str(root))
    assert_one_line_error(out, f'drafast: error: {core_id}: "x" is not an integer')
    (root / CPU / "online").unlink()
    out = drafast("cpu", "topology", "--host-root", str(root), "--format", "json")
    assert_one_line_error(out, f"drafast: error: {root / CPU / 'online'}: does not exist")


def test_host_root_not_a_directory(tmp_path: Path) -> None:
    out = drafast("cpu", "topology", "--host-root", str(tmp_path / "nope"))
    assert_one_line_error(out, f"--host-root {tmp_path / 'nope'}: not a directory")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--format", "xml"], "cpu topology: argument --format: invalid choice: 'xml'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--host-root"], "argument --host-root: expected one argument"),
    ],
)
def test_bad_flags(args: list[str], expected: str) -> None:
    out = drafast("cpu", "topology", *args)
    assert_one_line_error(out, expected)
    assert len(out.stderr.splitlines()) == 1  # no usage block either


def test_no_or_unknown_verb() -> None:
    assert_one_line_error(drafast("cpu"), "cpu: the following arguments are required: {topology")
    assert_one_line_error(drafast("cpu", "cores"), "cpu: argument {topology,pack}: invalid choice")


def test_listed_in_the_top_level_help() -> None:
    out = drafast("--help")
    assert out.returncode == 0
    assert "cpu " in out.stdout
    out = drafast("cpu", "topology", "--help")
    assert out.returncode == 0
    assert "--host-root" in out.stdout
