"""``drafast run`` as a real process: kubelet stand-in commands, signals, clean shutdown."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from cli_run import drafast

from drafast.k8s import DirStore, allocated_claim
from drafast.testing import start_file_plugin

pytestmark = pytest.mark.integration
DRIVER = "file.drafast.dev"


@pytest.fixture
def plugin(tmp_path: Path):  # type: ignore[no-untyped-def]
    files = tmp_path / "files"
    files.mkdir()
    (files / "alpha").write_text("")
    proc, _ = start_file_plugin(tmp_path, "--log-format", "json", stderr=subprocess.PIPE, text=True)
    yield proc, tmp_path
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_kubelet_commands_and_clean_shutdown(plugin, sig: signal.Signals) -> None:  # type: ignore[no-untyped-def]
    proc, root = plugin
    reg = root / "registry" / f"{DRIVER}-reg.sock"
    out = drafast("kubelet", "register", "--registration-socket", str(reg))
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["version"] == "v1"
    assert info["info"]["supported_versions"][:2] == ["v1.DRAPlugin", "v1beta1.DRAPlugin"]

    obj = allocated_claim(
        namespace="ns", name="c", driver=DRIVER, devices=[("r", "node-1", "alpha")], pods=["p"]
    )
    DirStore(root / "cluster").put("resourceclaims", obj, "ns")
    ref = f"ns/c/{obj['metadata']['uid']}"
    out = drafast("kubelet", "prepare", "--registration-socket", str(reg), ref)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)[obj["metadata"]["uid"]]["error"] == ""
    out = drafast("kubelet", "unprepare", "--dra-socket", str(root / "plugin" / "dra.sock"), ref)
    assert out.returncode == 0, out.stdout + out.stderr
    out = drafast("kubelet", "prepare", "--dra-socket", str(root / "plugin" / "dra.sock"), "bad")
    assert out.returncode == 2 and "expected NAMESPACE/NAME/UID" in out.stderr

    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 0
    assert not reg.exists() and not (root / "plugin" / "dra.sock").exists()


def test_refuses_to_start_on_corrupted_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "checkpoint.json").write_text("garbage\n")
    out = drafast(
        "run",
        "file",
        "--node-name",
        "n",
        "--plugin-dir",
        str(tmp_path / "plugin"),
        "--registry-dir",
        str(tmp_path / "r"),
        "--cluster",
        f"dir:{tmp_path}",
        "--resource-dir",
        str(tmp_path),
        env={**os.environ, "CDI_ROOT": str(tmp_path)},
    )
    assert out.returncode == 2
    assert f"{tmp_path / 'plugin' / 'checkpoint.json'}" in out.stderr
