"""tools/oci_image.py: the offline pause/test image writer node-bins.sh runs."""

from __future__ import annotations

import importlib.util
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from drafast.testing import images

WRITER = Path(__file__).resolve().parents[3] / "tools" / "oci_image.py"


@pytest.fixture(scope="module")
def oci_image() -> ModuleType:
    # A build helper outside the package: loaded from its file, as node-bins.sh runs it.
    spec = importlib.util.spec_from_file_location("oci_image", WRITER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["oci_image"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def busybox(tmp_path: Path) -> Path:
    f = tmp_path / "busybox"
    f.write_bytes(b"#!fake busybox\n" + bytes(range(256)) * 64)
    f.chmod(0o755)
    return f


def test_image_references_agree_with_the_harness(oci_image: ModuleType) -> None:
    assert (oci_image.PAUSE_IMAGE, oci_image.TESTBOX_IMAGE) == (
        images.PAUSE_IMAGE,
        images.TESTBOX_IMAGE,
    )


def _config_digest(archive: Path) -> str:
    import json

    with tarfile.open(archive) as t:
        index = json.load(t.extractfile("index.json"))  # type: ignore[arg-type]
        manifest_blob = "blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(t.extractfile(manifest_blob))  # type: ignore[arg-type]
        return str(manifest["config"]["digest"])


def test_archives_are_reproducible_and_unchanged(
    oci_image: ModuleType, busybox: Path, tmp_path: Path
) -> None:
    # Config digests of the writer as it was under python/drafast/testing/images.py (they cover
    # the layer's diff_id, so the image contents, and do not depend on the zlib build).
    expected = {
        "pause": "sha256:4835bf8b6423a6fe15f22b066a78b513c88227a5bdeb227459ecde88f5b0c5ed",
        "testbox": "sha256:e24b4df9d41ef2f3332136e8f5e0d30ba36b7c1d8a2217ea987fa6b100ada056",
    }
    for name, spec in (
        ("pause", oci_image.pause_spec(busybox)),
        ("testbox", oci_image.testbox_spec(busybox)),
    ):
        a = oci_image.build_archive(spec, tmp_path / "a" / f"{name}.tar", arch="amd64")
        b = oci_image.build_archive(spec, tmp_path / "b" / f"{name}.tar", arch="amd64")
        assert a.read_bytes() == b.read_bytes()
        assert _config_digest(a) == expected[name]


def test_cli(oci_image: ModuleType, busybox: Path, tmp_path: Path) -> None:
    assert oci_image.main(["--busybox", str(busybox), "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "images.json",
        "pause.tar",
        "testbox.tar",
    ]
    assert oci_image.main(["--busybox", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 1
