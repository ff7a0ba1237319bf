"""helm for the e2e tests: its version comes from tools/versions.env only, the build script reuses
a complete cache without go or the network, and :func:`drafast.testing.bins.helm_binary` finds it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from drafast.testing import bins

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "tests" / "e2e" / "tools" / "helm-bin.sh"


def test_helm_version_is_read_from_versions_env_only() -> None:
    version = bins.pinned_versions()["HELM_VERSION"]
    assert version == bins.HELM_VERSION
    script = SCRIPT.read_text()
    assert 'load_versions "$VERSIONS_FILE"' in script
    assert "$HELM_VERSION" in script
    major, minor, _ = version.split(".")
    for path in (SCRIPT, REPO / "Makefile", REPO / "python" / "drafast" / "testing" / "bins.py"):
        text = path.read_text()
        for spelling in (version, f"{major}.{minor}.", f"helm/v{major}"):
            assert spelling not in text, f"{path.name} spells {spelling!r}: read tools/versions.env"


# --- helm_binary() -------------------------------------------------------------------------------


def _helm(root: Path, name: str, *, stamp: bool = True) -> Path:
    b = root / name / "bin"
    b.mkdir(parents=True)
    helm = b / "helm"
    helm.write_text("#!/bin/sh\n")
    helm.chmod(0o755)
    if stamp:
        (b / ".stamp").write_text(f"helm={name}\n")
    return helm


def test_helm_binary_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAFAST_CACHE", str(tmp_path))
    monkeypatch.delenv("DRAFAST_HELM", raising=False)
    monkeypatch.setattr(bins, "HELM_VERSION", "9.8.7")
    # nothing built
    assert bins.helm_binary() is None
    # an unfinished build (no .stamp) and other versions do not count
    _helm(tmp_path, "helm-v9.8.7", stamp=False)
    _helm(tmp_path, "helm-v9.9.9")
    assert bins.helm_binary() is None
    # the pinned version, once complete
    (tmp_path / "helm-v9.8.7" / "bin" / ".stamp").write_text("helm=v9.8.7\n")
    assert bins.helm_binary() == tmp_path / "helm-v9.8.7" / "bin" / "helm"
    # helm-current (what helm-bin.sh last completed) wins over the pin
    (tmp_path / "helm-current").symlink_to("helm-v9.9.9")
    found = bins.helm_binary()
    assert found == tmp_path / "helm-current" / "bin" / "helm"
    assert found.resolve() == tmp_path / "helm-v9.9.9" / "bin" / "helm"
    # DRAFAST_HELM over everything; when it names no executable there is no helm (no fall-back)
    own = _helm(tmp_path / "own", "x")
    monkeypatch.setenv("DRAFAST_HELM", str(own))
    assert bins.helm_binary() == own
    monkeypatch.setenv("DRAFAST_HELM", str(tmp_path / "nonexistent"))
    assert bins.helm_binary() is None


def test_helm_binary_without_a_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAFAST_CACHE", str(tmp_path))
    monkeypatch.delenv("DRAFAST_HELM", raising=False)
    monkeypatch.setattr(bins, "HELM_VERSION", None)
    assert bins.helm_binary() is None
    _helm(tmp_path, "helm-v1.2.3")
    (tmp_path / "helm-current").symlink_to("helm-v1.2.3")
    assert bins.helm_binary() == tmp_path / "helm-current" / "bin" / "helm"


# --- helm-bin.sh without building ----------------------------------------------------------------

FAKE_HELM = """#!/bin/sh
case "$*" in
  "version --template {{.Version}}") echo v9.8.7 ;;
  version) echo 'version.BuildInfo{Version:"v9.8.7"}' ;;
  *) exit 2 ;;
esac
"""


def _run(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """helm-bin.sh for HELM_VERSION=9.8.7 with a `go` that fails and leaves a mark."""
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir(exist_ok=True)
    go = fakebin / "go"
    go.write_text(f'#!/bin/sh\necho "$*" >>"{tmp_path}/go-called"\nexit 1\n')
    go.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fakebin}:{os.environ['PATH']}",
        "DRAFAST_CACHE": str(tmp_path / "cache"),
        "HELM_VERSION": "9.8.7",
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_script_reuses_a_complete_cache_without_go(tmp_path: Path) -> None:
    helm = _helm(tmp_path / "cache", "helm-v9.8.7")
    helm.write_text(FAKE_HELM)
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "go-called").exists()
    assert "helm v9.8.7 already present" in r.stdout
    assert 'version.BuildInfo{Version:"v9.8.7"}' in r.stdout
    assert (tmp_path / "cache" / "helm-current").readlink() == Path("helm-v9.8.7")


def test_script_rebuilds_an_incomplete_cache(tmp_path: Path) -> None:
    helm = _helm(tmp_path / "cache", "helm-v9.8.7", stamp=False)
    helm.write_text(FAKE_HELM)
    r = _run(tmp_path)
    assert r.returncode == 1
    assert (tmp_path / "go-called").exists()
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("helm-bin: ERROR: "), r.stderr
    assert not (tmp_path / "cache" / "helm-current").exists()


def test_script_rejects_a_malformed_version(tmp_path: Path) -> None:
    env = {**os.environ, "DRAFAST_CACHE": str(tmp_path), "HELM_VERSION": "v4.3"}
    r = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 1
    want = "HELM_VERSION must be <major>.<minor>.<patch> (got 'v4.3')"
    assert r.stderr == f"helm-bin: ERROR: {want}\n"
    assert list(tmp_path.iterdir()) == []
