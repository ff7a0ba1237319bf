"""kill -9 of ``drafast run`` in the middle of 64 concurrent prepares, then a restart: every claim
that was answered is still prepared, the kubelet's retries converge, and unprepare leaves no
spec, no line and no record behind. Run at several moments of the burst."""

import asyncio
import contextlib
import subprocess
from pathlib import Path

import pytest

from drafast import _native
from drafast.k8s import DirStore, allocated_claim
from drafast.kubelet.client import KubeletCallError, KubeletClient
from drafast.testing import start_file_plugin
from drafast.types import ClaimRef, ClaimUID

pytestmark = pytest.mark.integration
DRIVER = "file.drafast.dev"
FILES = 8
CLAIMS = 64


def start(root: Path) -> tuple[subprocess.Popen[bytes], Path]:
    return start_file_plugin(root, "--log-level", "error")


def make_claims(root: Path) -> list[ClaimRef]:
    (root / "files").mkdir()
    for i in range(FILES):
        (root / "files" / f"file-{i}").write_text("# user line\n")
    store, refs = DirStore(root / "cluster"), []
    for i in range(CLAIMS):
        obj = allocated_claim(
            namespace="ns",
            name=f"c{i}",
            driver=DRIVER,
            devices=[("r", "node-1", f"file-{i % FILES}")],
            pods=[f"pod-{i}"],
        )
        store.put("resourceclaims", obj, "ns")
        refs.append(ClaimRef(namespace="ns", name=f"c{i}", uid=ClaimUID(obj["metadata"]["uid"])))
    return refs


async def burst_then_kill(
    reg: Path, proc: subprocess.Popen[bytes], refs: list[ClaimRef], delay: float
) -> set[str]:
    """64 single-claim prepares at once, SIGKILL after ``delay``; the UIDs answered OK."""
    async with KubeletClient(registration_socket=reg) as kubelet:
        await kubelet.register()

        async def one(ref: ClaimRef) -> str | None:
            try:
                out = await kubelet.prepare([ref])
            except KubeletCallError:
                return None  # the plugin died under this call
            return ref.uid if out[ref.uid].error == "" else None

        calls = [asyncio.create_task(one(r)) for r in refs]
        await asyncio.sleep(delay)
        proc.kill()
        answered = await asyncio.gather(*calls)
    proc.wait()
    return {uid for uid in answered if uid}


def file_lines(root: Path) -> dict[str, list[str]]:
    """The device files' lines (hidden files are the driver's spares, not devices)."""
    files = sorted(p for p in (root / "files").iterdir() if not p.name.startswith("."))
    return {p.name: p.read_text().splitlines() for p in files}


@pytest.mark.parametrize("delay", [0.005, 0.02, 0.05])
async def test_kill_9_during_concurrent_prepares_loses_nothing(
    tmp_path: Path, delay: float
) -> None:
    refs = make_claims(tmp_path)
    proc, reg = start(tmp_path)
    answered = await burst_then_kill(reg, proc, refs, delay)

    # Every claim the kubelet was told is prepared is in the durable checkpoint.
    ckpt = _native.Checkpoint(str(tmp_path / "plugin" / "checkpoint.json"))
    assert answered <= set(ckpt.keys())

    proc, reg = start(tmp_path)
    try:
        async with KubeletClient(registration_socket=reg) as kubelet:
            await kubelet.register()
            # The kubelet retries every claim of the pods it is starting.
            out = await asyncio.gather(*(kubelet.prepare([r]) for r in refs))
            for ref, res in zip(refs, out, strict=True):
                assert res[ref.uid].error == "", res[ref.uid].error
                [dev] = res[ref.uid].devices
                assert dev.cdi_device_ids == (f"k8s.{DRIVER}/file={ref.uid}-{dev.device}",)
            specs = {p.name for p in (tmp_path / "cdi").iterdir()}
            assert specs == {f"k8s.{DRIVER}-file_{r.uid}.json" for r in refs}
            for name, lines in file_lines(tmp_path).items():
                i = int(name.split("-")[1])
                want = {f"ns/pod-{n} claim={refs[n].uid}" for n in range(i, CLAIMS, FILES)}
                assert lines[0] == "# user line" and set(lines[1:]) == want, (name, lines)
                assert len(lines) == 1 + len(want)  # no line twice
            out2 = await asyncio.gather(*(kubelet.unprepare([r]) for r in refs))
            assert all(res[r.uid].error == "" for r, res in zip(refs, out2, strict=True))
        assert list((tmp_path / "cdi").iterdir()) == []
        assert all(lines == ["# user line"] for lines in file_lines(tmp_path).values())
        hidden = [p for p in (tmp_path / "files").iterdir() if p.name.startswith(".")]
        assert all(p.name.endswith(".drafast-tmp.spare") and p.stat().st_size == 0 for p in hidden)
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert _native.Checkpoint(str(tmp_path / "plugin" / "checkpoint.json")).keys() == []


@pytest.mark.parametrize("delay", [0.005, 0.03])
async def test_kill_9_during_concurrent_unprepares_converges(tmp_path: Path, delay: float) -> None:
    refs = make_claims(tmp_path)
    proc, reg = start(tmp_path)
    try:
        async with KubeletClient(registration_socket=reg) as kubelet:
            await kubelet.register()
            out = await asyncio.gather(*(kubelet.prepare([r]) for r in refs))
            assert all(res[r.uid].error == "" for r, res in zip(refs, out, strict=True))

            async def one(ref: ClaimRef) -> None:
                with contextlib.suppress(KubeletCallError):  # the plugin died under this call
                    await kubelet.unprepare([ref])

            calls = [asyncio.create_task(one(r)) for r in refs]
            await asyncio.sleep(delay)
            proc.kill()
            await asyncio.gather(*calls)
    finally:
        proc.kill()
        proc.wait()

    proc, reg = start(tmp_path)
    try:
        async with KubeletClient(registration_socket=reg) as kubelet:
            await kubelet.register()
            out2 = await asyncio.gather(*(kubelet.unprepare([r]) for r in refs))  # the retries
            assert all(res[r.uid].error == "" for r, res in zip(refs, out2, strict=True))
        assert list((tmp_path / "cdi").iterdir()) == []
        assert all(lines == ["# user line"] for lines in file_lines(tmp_path).values())
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert _native.Checkpoint(str(tmp_path / "plugin" / "checkpoint.json")).keys() == []


@pytest.mark.parametrize("done", ["record removed", "driver unprepared"])
async def test_a_crash_between_the_halves_of_an_unprepare_converges(
    tmp_path: Path, done: str
) -> None:
    """The file driver restores from the checkpoint, so its unprepare and the removal of the
    claim's record run at the same time and a crash can leave either one done alone. Both states,
    made by hand under a killed plugin: the restart's restore and the kubelet's retried
    unprepare leave no line, spec or record behind, and the other claims as they were."""
    refs = make_claims(tmp_path)[:FILES]  # one claim per file
    victim, victim_file = refs[0], tmp_path / "files" / "file-0"
    proc, reg = start(tmp_path)
    try:
        async with KubeletClient(registration_socket=reg) as kubelet:
            await kubelet.register()
            out = await asyncio.gather(*(kubelet.prepare([r]) for r in refs))
            assert all(res[r.uid].error == "" for r, res in zip(refs, out, strict=True))
    finally:
        proc.kill()  # the crash
        proc.wait()
    line = f"ns/pod-0 claim={victim.uid}"
    assert victim_file.read_text().splitlines() == ["# user line", line]
    checkpoint = tmp_path / "plugin" / "checkpoint.json"
    if done == "record removed":  # the driver's unprepare did not run: its line is still there
        _native.Checkpoint(str(checkpoint)).commit([], [victim.uid])
    else:  # the driver's unprepare ran, the record is still there
        victim_file.write_text("# user line\n")

    proc, reg = start(tmp_path)
    try:
        # restore: the file holds the line exactly when the checkpoint holds the claim
        want = [] if done == "record removed" else [line]
        assert victim_file.read_text().splitlines() == ["# user line", *want]
        async with KubeletClient(registration_socket=reg) as kubelet:
            await kubelet.register()
            assert (await kubelet.unprepare([victim]))[victim.uid].error == ""  # the retry
            assert victim_file.read_text().splitlines() == ["# user line"]
            for i, ref in enumerate(refs[1:], start=1):  # the others are untouched
                held = (tmp_path / "files" / f"file-{i}").read_text().splitlines()
                assert held == ["# user line", f"ns/pod-{i} claim={ref.uid}"]
            rest = await asyncio.gather(*(kubelet.unprepare([r]) for r in refs[1:]))
            assert all(res[r.uid].error == "" for r, res in zip(refs[1:], rest, strict=True))
        assert list((tmp_path / "cdi").iterdir()) == []
        assert all(lines == ["# user line"] for lines in file_lines(tmp_path).values())
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert _native.Checkpoint(str(checkpoint)).keys() == []
