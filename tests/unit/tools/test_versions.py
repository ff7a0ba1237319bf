"""Pinned versions live in tools/versions.env only, and everything reads them from there."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from drafast.testing import bins

REPO = Path(__file__).resolve().parents[3]
VERSIONS = REPO / "tools" / "versions.env"


def test_python_and_shell_read_the_same_pins() -> None:
    pins = bins.pinned_versions(VERSIONS)
    assert pins["K8S_VERSION"] == bins.K8S_VERSION
    env = {k: v for k, v in os.environ.items() if k not in pins}  # no overrides
    env["LIB"] = str(REPO / "tools" / "lib.sh")
    script = 'set -euo pipefail; source "$LIB"; load_versions "$VERSIONS_FILE"; '
    script += "; ".join(f'echo "{k}=${k}"' for k in pins)
    out = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert dict(line.split("=", 1) for line in out.splitlines()) == pins


@pytest.mark.parametrize(
    "path",
    [
        "Makefile",
        "tools/lib.sh",
        "tests/e2e/tools/cluster-bins.sh",
        "tests/e2e/tools/node-bins.sh",
        "tests/e2e/tools/helm-bin.sh",
        "python/drafast/testing/bins.py",
    ],
)
def test_no_second_spelling_of_a_pin(path: str) -> None:
    pins = bins.pinned_versions(VERSIONS)
    text = (REPO / path).read_text()
    keys = ("K8S_VERSION", "K8S_FALLBACK", "KUBECTL_VERSION", "ETCD_GO_VERSION", "ETCD_MIN")
    for key in (*keys, "HELM_VERSION"):
        assert pins[key] not in text, f"{path} spells {key}={pins[key]}: read tools/versions.env"


def _complete(root: Path, version: str) -> Path:
    b = root / f"k8s-v{version}" / "bin"
    b.mkdir(parents=True)
    (b / ".stamp").write_text(f"k8s=v{version}\n")
    return b


def test_default_bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAFAST_CACHE", str(tmp_path))
    monkeypatch.delenv("DRAFAST_K8S_BIN", raising=False)
    monkeypatch.setattr(bins, "K8S_VERSION", "1.50.1")
    # nothing built: the pinned version's dir (missing_binaries then lists everything)
    assert bins.default_bin_dir() == tmp_path / "k8s-v1.50.1" / "bin"
    # an older cache without k8s-current: the newest complete one
    _complete(tmp_path, "1.49.0")
    _complete(tmp_path, "1.9.0")
    assert bins.default_bin_dir() == tmp_path / "k8s-v1.49.0" / "bin"
    # the pinned one wins over newer ones
    _complete(tmp_path, "1.50.1")
    _complete(tmp_path, "1.38.0")
    assert bins.default_bin_dir() == tmp_path / "k8s-v1.50.1" / "bin"
    # k8s-current (what cluster-bins.sh last completed) wins over the pin
    (tmp_path / "k8s-current").symlink_to("k8s-v1.49.0")
    assert bins.default_bin_dir().resolve() == tmp_path / "k8s-v1.49.0" / "bin"
    # and DRAFAST_K8S_BIN over everything
    monkeypatch.setenv("DRAFAST_K8S_BIN", "/opt/k8s")
    assert bins.default_bin_dir() == Path("/opt/k8s")


def test_no_pins_outside_a_checkout(tmp_path: Path) -> None:
    assert bins.pinned_versions(tmp_path / "versions.env") == {}
