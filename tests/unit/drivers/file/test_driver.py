"""FileDriver's two prepare stages, called directly (the core and sockets are covered by the
plugin's integration tests)."""

from pathlib import Path

import pytest

from drafast.driver import RestoringDriver, StagedDriver
from drafast.drivers.file import FileDriver, FileDriverSettings
from drafast.errors import DeviceError
from drafast.runtime.iojobs import IoJobs
from drafast.types import (
    AllocatedDevice,
    Claim,
    ClaimRef,
    ClaimUID,
    Consumer,
    DeviceName,
    NodeName,
    PoolName,
)


def claim(*devices: str, name: str = "c") -> Claim:
    return Claim(
        ref=ClaimRef(namespace="ns", name=name, uid=ClaimUID(f"uid-{name}")),
        devices=tuple(
            AllocatedDevice(request=f"r{i}", pool=PoolName("n"), device=DeviceName(d))
            for i, d in enumerate(devices)
        ),
        configs=(),
        reserved_for=(Consumer(api_group="", resource="pods", name="pod-a", uid="p1"),),
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name in ("a", "b"):
        (tmp_path / name).write_text("# kept\n")
    return tmp_path


async def started(files: Path, io: IoJobs) -> FileDriver:
    drv = FileDriver(FileDriverSettings(resource_dir=files), node_name=NodeName("n"), io=io)
    await drv.discover()
    return drv


async def test_plan_touches_no_file_and_apply_writes_the_lines(
    files: Path, io_jobs: IoJobs
) -> None:
    drv = await started(files, io_jobs)
    assert isinstance(drv, StagedDriver) and isinstance(drv, RestoringDriver)
    c = claim("a", "b")
    prepared = await drv.plan(c)
    assert [d.device for d in prepared.devices] == ["a", "b"]
    assert (files / "a").read_text() == (files / "b").read_text() == "# kept\n"
    await drv.apply(c.ref, prepared)
    await drv.apply(c.ref, prepared)  # idempotent: a checkpoint hit applies again
    for name in ("a", "b"):
        assert (files / name).read_text() == "# kept\nns/pod-a claim=uid-c\n"
    await drv.unprepare(c.ref, prepared)
    assert (files / "a").read_text() == "# kept\n"


async def test_prepare_is_plan_then_apply(files: Path, io_jobs: IoJobs) -> None:
    drv = await started(files, io_jobs)
    c = claim("a")
    assert await drv.prepare(c) == await drv.plan(c)
    assert (files / "a").read_text() == "# kept\nns/pod-a claim=uid-c\n"


async def test_plan_refuses_a_device_without_a_file(files: Path, io_jobs: IoJobs) -> None:
    drv = await started(files, io_jobs)
    with pytest.raises(DeviceError, match=r"claim ns/c \(uid-c\): device z has no file in"):
        await drv.plan(claim("a", "z"))
    assert (files / "a").read_text() == "# kept\n"


async def test_a_failed_prepare_takes_back_the_lines_it_wrote(files: Path, io_jobs: IoJobs) -> None:
    drv = await started(files, io_jobs)
    (files / "b").unlink()
    (files / "b").mkdir()  # its rewrite fails; the line written into "a" must not stay behind
    with pytest.raises(DeviceError, match="b"):
        await drv.prepare(claim("a", "b"))
    # Another claim's rewrite of "a" queues behind any still in flight; then only it is there.
    other = claim("a", name="d")
    await drv.apply(other.ref, await drv.plan(other))
    assert (files / "a").read_text() == "# kept\nns/pod-a claim=uid-d\n"
