from pathlib import Path
from typing import Any

import orjson
import pytest

from drafast.cdi import ClaimSpecWriter
from drafast.errors import CDIError
from drafast.runtime.iojobs import IoJobs
from drafast.types import (
    ContainerEdits,
    DeviceName,
    DeviceNode,
    PoolName,
    PreparedClaim,
    PreparedDevice,
)


def prepared(*devs: PreparedDevice) -> PreparedClaim:
    return PreparedClaim(devices=devs)


def dev(
    name: str, edits: ContainerEdits = ContainerEdits(), share: str | None = None
) -> PreparedDevice:
    return PreparedDevice(
        requests=("r",), pool=PoolName("p"), device=DeviceName(name), edits=edits, share_id=share
    )


def load(path: object) -> Any:
    return orjson.loads(Path(str(path)).read_bytes())


def files(d: Path) -> list[Path]:
    return list(d.iterdir())


def touch(p: Path) -> None:
    p.write_text("")


async def test_names_and_ids_follow_the_go_helper(tmp_path: Path, io_jobs: IoJobs) -> None:
    w = ClaimSpecWriter(tmp_path, "gpu.example.com", "gpu")
    p = prepared(
        dev("g0", ContainerEdits(env=("X=1",))),
        dev("g1"),
        dev("g2", ContainerEdits(env=("Y=2",)), share="s9"),
    )
    assert w.file_name("uid-1") == "k8s.gpu.example.com-gpu_uid-1.json"
    assert w.device_ids("uid-1", p) == (
        ("k8s.gpu.example.com/gpu=uid-1-g0",),
        (),
        ("k8s.gpu.example.com/gpu=uid-1-g2-s9",),
    )
    path = await w.write("uid-1", p)
    assert path == str(tmp_path / "k8s.gpu.example.com-gpu_uid-1.json")
    spec = load(path)
    assert spec["cdiVersion"] == "0.3.0" and spec["kind"] == "k8s.gpu.example.com/gpu"
    assert [d["name"] for d in spec["devices"]] == ["uid-1-g0", "uid-1-g2-s9"]
    assert w.remove("uid-1") and not w.remove("uid-1")
    assert files(tmp_path) == []


async def test_no_edits_no_spec(tmp_path: Path, io_jobs: IoJobs) -> None:
    w = ClaimSpecWriter(tmp_path, "d.example.com", "c")
    assert await w.write("u", prepared(dev("a"))) is None
    assert files(tmp_path) == []


async def test_host_path_raises_min_version(tmp_path: Path, io_jobs: IoJobs) -> None:
    w = ClaimSpecWriter(tmp_path, "d.example.com", "c")
    e = ContainerEdits(device_nodes=(DeviceNode(path="/dev/x", host_path="/dev/y"),))
    spec = load(await w.write("u", prepared(dev("a", e))))
    assert spec["cdiVersion"] == "0.5.0"


async def test_invalid_edits_are_rejected_with_the_value(tmp_path: Path, io_jobs: IoJobs) -> None:
    w = ClaimSpecWriter(tmp_path, "d.example.com", "c")
    with pytest.raises(CDIError, match="NOEQUALS"):
        await w.write("u", prepared(dev("a", ContainerEdits(env=("NOEQUALS",)))))
    with pytest.raises(CDIError):
        ClaimSpecWriter(tmp_path, "d.example.com", "-bad")


async def test_a_missing_cdi_directory_is_created(tmp_path: Path, io_jobs: IoJobs) -> None:
    w = ClaimSpecWriter(tmp_path / "wiped" / "cdi", "d.example.com", "c")
    path = await w.write("u", prepared(dev("a", ContainerEdits(env=("A=1",)))))
    assert path == str(tmp_path / "wiped" / "cdi" / "k8s.d.example.com-c_u.json")
    assert load(path)["devices"][0]["containerEdits"] == {"env": ["A=1"]}


async def test_an_uncreatable_cdi_directory_is_a_cdi_error(tmp_path: Path, io_jobs: IoJobs) -> None:
    touch(tmp_path / "file")
    w = ClaimSpecWriter(tmp_path / "file" / "cdi", "d.example.com", "c")
    with pytest.raises(CDIError, match=r"CDI directory .*file/cdi: cannot create"):
        await w.write("u", prepared(dev("a", ContainerEdits(env=("A=1",)))))


def test_leftovers_of_interrupted_writes_are_removed_only_for_this_driver(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    w = ClaimSpecWriter(tmp_path, "d.example.com", "c")
    ours = ".k8s.d.example.com-c_u1.json.tmp.123.4"
    keep = [
        "k8s.d.example.com-c_u1.json",  # a live spec
        ".k8s.other.example.com-c_u1.json.tmp.123.4",  # another driver's
        ".k8s.d.example.com-c_u1.json",  # not a temp file of ours
    ]
    for name in [ours, *keep]:
        (tmp_path / name).write_text("{}")
    assert w.remove_leftovers() == [ours]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)
    assert ClaimSpecWriter(tmp_path / "missing", "d.example.com", "c").remove_leftovers() == []
