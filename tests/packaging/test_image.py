"""The container image as ``make image`` builds it (``tools/image.sh``): built twice here from the
same sources (two fresh wheel builds, each image from a clean root filesystem) into the test's
temp dir, the two archives are byte-identical; the OCI layout, manifest and config are what the
Helm chart and ``ctr -n k8s.io images import`` expect; and the image's own root filesystem,
unpacked and entered with chroot in a private mount namespace (as root), runs ``drafast
--version`` and ``drafast demo``; containerd (when ``make node-bins`` built it) imports it.

Needs root, apt-get/dpkg-deb (Debian packages, cached under ``$DRAFAST_CACHE/image-debs``), chroot
and unshare; about a minute on a warm cache (the first run downloads ~30 .debs and the wheels)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from image_build import IMAGE_REF, ROOT, VERSION, build_image, build_wheel, built_image, run

from drafast.testing import bins

pytestmark = pytest.mark.packaging


@pytest.fixture(autouse=True)
def _a_debian_host_as_root() -> None:
    """What the image build needs; missing, the test fails and says so (it never skips)."""
    if os.geteuid() != 0:
        pytest.fail("the image check chroots into the image: run as root", pytrace=False)
    missing = [t for t in ("apt-get", "dpkg-deb", "chroot", "unshare") if not shutil.which(t)]
    if missing:
        pytest.fail(f"the image build needs {', '.join(missing)} (a Debian host)", pytrace=False)


REF = IMAGE_REF
ENTRYPOINT = ["/usr/local/bin/drafast"]
HOST_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"


@dataclass(frozen=True)
class Image:
    archive: Path
    printed_digest: str
    blobs: dict[str, bytes]
    index: dict[str, Any]
    manifest: dict[str, Any]
    config: dict[str, Any]

    def blob(self, digest: str) -> bytes:
        return self.blobs[digest]


def load(archive: Path, printed: str) -> Image:
    blobs: dict[str, bytes] = {}
    with tarfile.open(archive) as t:
        names = t.getnames()
        assert names[:2] == ["blobs", "blobs/sha256"]
        index = json.loads(t.extractfile("index.json").read())  # type: ignore[union-attr]
        assert json.loads(t.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}  # type: ignore[union-attr]
        for m in t.getmembers():
            if m.name.startswith("blobs/sha256/"):
                data = t.extractfile(m).read()  # type: ignore[union-attr]
                digest = "sha256:" + m.name.rsplit("/", 1)[1]
                assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
                blobs[digest] = data
    [entry] = index["manifests"]
    manifest = json.loads(blobs[entry["digest"]])
    config = json.loads(blobs[manifest["config"]["digest"]])
    line = re.search(r"^digest +(sha256:[0-9a-f]{64})$", printed, re.M)
    assert line, f"no digest line in:\n{printed}"
    return Image(archive, line.group(1), blobs, index, manifest, config)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Image, Image]:
    """The session's image and a second one from a second wheel (as two `make image` runs would
    build it: maturin's SBOM differs each time) and a fresh root filesystem (the script's own)."""
    first = built_image()
    out = tmp_path_factory.mktemp("image")
    second = build_image(build_wheel(out / "wheel"), out / "b.tar")
    return load(first.archive, first.printed), load(second.archive, second.printed)


@pytest.fixture(scope="module")
def image(images: tuple[Image, Image]) -> Image:
    return images[0]


@pytest.fixture(scope="module")
def layer(image: Image) -> bytes:
    [desc] = image.manifest["layers"]
    assert desc["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    return gzip.decompress(image.blob(desc["digest"]))


def test_two_builds_are_byte_identical(images: tuple[Image, Image]) -> None:
    a, b = images
    assert a.printed_digest == b.printed_digest == a.index["manifests"][0]["digest"]
    assert a.archive.read_bytes() == b.archive.read_bytes()


def test_index_names_the_image_as_the_chart_does(image: Image) -> None:
    [entry] = image.index["manifests"]
    assert entry["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}
    ann = entry["annotations"]
    assert ann["io.containerd.image.name"] == REF
    assert ann["org.opencontainers.image.ref.name"] == VERSION
    chart = (ROOT / "deploy" / "helm" / "drafast" / "values.yaml").read_text()
    assert re.search(r"^  repository: drafast$", chart, re.M)
    assert f'appVersion: "{VERSION}"' in (ROOT / "deploy/helm/drafast/Chart.yaml").read_text()


def test_config_entrypoint_user_labels_and_fixed_times(image: Image) -> None:
    cfg = image.config
    assert image.manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert (cfg["os"], cfg["architecture"]) == ("linux", "amd64")
    c = cfg["config"]
    assert c["Entrypoint"] == ENTRYPOINT
    assert c["User"] == "0:0"  # the kubelet's plugin dirs are root's
    labels = c["Labels"]
    assert labels["org.opencontainers.image.title"] == "drafast"
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    # SOURCE_DATE_EPOCH=0: fixed, never the build time
    created = "1970-01-01T00:00:00Z"
    assert labels["org.opencontainers.image.created"] == created
    assert cfg["created"] == created
    assert {h["created"] for h in cfg["history"]} == {created}
    assert image.manifest["annotations"]["org.opencontainers.image.version"] == VERSION
    assert time.strftime("%Y-%m-%d") not in json.dumps(cfg)


def test_layer_is_normalised_and_complete(image: Image, layer: bytes) -> None:
    assert image.config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        members = t.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names, key=lambda n: n.split("/"))
    assert {(m.mtime, m.uid, m.gid) for m in members} == {(0, 0, 0)}
    by_name = {m.name: m for m in members}
    for must in (
        "usr/bin/python3.11",
        "usr/local/bin/drafast",
        "usr/lib/python3/dist-packages/drafast/_native.abi3.so",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
        "usr/share/drafast/debian-packages.txt",
    ):
        assert must in by_name, must
    assert by_name["usr/local/bin/drafast"].mode == 0o755
    assert by_name["tmp"].mode == 0o1777
    assert by_name["lib"].issym() and by_name["lib"].linkname == "usr/lib"
    assert not [n for n in names if n.endswith("direct_url.json")]
    assert not [n for n in names if n.startswith("usr/lib/python3/dist-packages/bin")]


def test_layer_has_checked_hash_bytecode(layer: bytes) -> None:
    """The stdlib and the site dir ship their .pyc (a read-only root cannot cache them), every one
    checked-hash (flags 0b11 in the header): validated by the source's hash, no mtime embedded."""
    flags: dict[str, int] = {}
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        for m in t:
            if m.isfile() and m.name.endswith(".pyc"):
                header = t.extractfile(m).read(16)  # type: ignore[union-attr]
                flags[m.name] = int.from_bytes(header[4:8], "little")
    assert flags
    assert {n for n, f in flags.items() if f != 0b11} == set()
    assert not [n for n in flags if "/__pycache__/" not in n or ".opt-" in n]
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        sources = [m.name for m in t if m.name.endswith(".py")]

    def pyc(src: str) -> str:
        d, _, f = src.rpartition("/")
        return f"{d}/__pycache__/{f[:-3]}.cpython-311.pyc"

    for prefix in ("usr/lib/python3/dist-packages/drafast/", "usr/lib/python3.11/asyncio/"):
        modules = [s for s in sources if s.startswith(prefix)]
        assert modules, prefix
        assert [s for s in modules if pyc(s) not in flags] == [], prefix


@pytest.fixture(scope="module")
def rootfs(layer: bytes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rootfs")
    # Our own archive, absolute symlinks inside: extracted as it is. Where extraction filters
    # exist (3.11.4+) that must be said (from 3.14 the default refuses such links); Debian's
    # 3.11.2 has none.
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        if hasattr(tarfile, "fully_trusted_filter"):
            t.extractall(root, filter="fully_trusted")
        else:
            t.extractall(root)
    return root


def in_image(rootfs: Path, image: Image, *argv: str, timeout: float = 180) -> str:
    """Run argv in the image's root filesystem as a container would: its Env only, /dev and a
    fresh /proc, in a private mount and pid namespace (the mounts vanish with it)."""
    mount, chroot, unshare = (
        shutil.which(t, path=HOST_PATH) for t in ("mount", "chroot", "unshare")
    )
    script = (
        f'{mount} --rbind /dev "{rootfs}/dev" && {mount} -t proc proc "{rootfs}/proc" && '
        f'exec {chroot} "{rootfs}" "$@"'
    )
    env = dict(e.split("=", 1) for e in image.config["config"]["Env"])  # the image's, only
    out = subprocess.run(
        [str(unshare), "--mount", "--pid", "--fork", "/bin/sh", "-c", script, "sh", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        cwd="/",
    )
    assert out.returncode == 0, f"{argv} in the image failed:\n{out.stdout[-3000:]}\n{out.stderr}"
    return out.stdout


def test_image_python_imports_everything(rootfs: Path, image: Image) -> None:
    code = (
        "import drafast._native, grpc, uvloop, orjson, yaml, aiohttp, kubernetes, "
        "prometheus_client, google.protobuf, ssl, sqlite3; "
        "print(ssl.create_default_context().cert_store_stats()['x509_ca'] > 100)"
    )
    assert in_image(rootfs, image, "/usr/bin/python3.11", "-c", code).strip() == "True"


def test_entrypoint_version_and_demo(rootfs: Path, image: Image) -> None:
    entry = image.config["config"]["Entrypoint"]
    assert in_image(rootfs, image, *entry, "--version").strip() == f"drafast {VERSION}"
    out = in_image(rootfs, image, *entry, "demo")
    assert "all checks passed" in out, out[-2000:]


@pytest.fixture
def containerd() -> Iterator[tuple[Path, Path]]:
    """A throwaway containerd (from make node-bins, when built) on a short socket path."""
    b = bins.cache_root() / "node-bins" / "current" / "bin"
    if not (b / "containerd").is_file() or not (b / "ctr").is_file():
        pytest.fail("no containerd: run make node-bins", pytrace=False)
    d = Path(tempfile.mkdtemp(prefix="ctrd.", dir="/tmp"))
    sock = d / "c.sock"
    args = [b / "containerd", "--root", d / "root", "--state", d / "state"]
    args += ["--address", sock, "--config", "/dev/null"]
    with (d / "log").open("wb") as log:
        proc = subprocess.Popen([str(a) for a in args], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert proc.poll() is None, (d / "log").read_text()[-2000:]
            assert time.monotonic() < deadline, "containerd did not start"
            time.sleep(0.1)
        yield b / "ctr", sock
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        subprocess.run(["umount", "-R", str(d / "state")], capture_output=True, check=False)
        shutil.rmtree(d, ignore_errors=True)


def test_ctr_imports_the_archive(image: Image, containerd: tuple[Path, Path]) -> None:
    ctr, sock = containerd
    base: list[str | Path] = [ctr, "--address", sock, "-n", "k8s.io", "images"]
    run(*base, "import", image.archive, timeout=120)
    listed = run(*base, "ls", timeout=60)
    assert re.search(rf"^{re.escape(REF)}\s.*{image.printed_digest}", listed, re.M), listed
