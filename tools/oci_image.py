"""Offline OCI image archives for the real test node: a pause image and a small busybox box.

No registry is reachable from the test machines, so the sandbox ("pause") image and the image the
test pods run are built here from a static busybox binary (Debian's ``busybox-static``) and
imported into containerd with ``ctr -n k8s.io images import``. Each archive is an OCI image
layout (``oci-layout``, ``index.json``, ``blobs/sha256/...``) in one tar with a single gzip
layer; the output is byte-for-byte reproducible (fixed timestamps, sorted entries).

A build helper, not part of the installed package: standard library only, run as a plain script
by ``tests/e2e/tools/node-bins.sh`` (which rebuilds the images whenever this file changes)::

    python3 tools/oci_image.py --busybox /path/to/busybox --out DIR

which writes ``DIR/pause.tar`` and ``DIR/testbox.tar`` (and ``DIR/images.json`` naming them).
The image references are also spelled in :mod:`drafast.testing.images` (what the node harness
configures containerd with); ``tests/unit/tools/test_oci_image.py`` checks that both agree.

:func:`tree_layer` (a whole directory tree as one reproducible layer) and :func:`write_archive`
(any single-layer image) are what ``tools/build_image.py`` writes the drafast image with.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import stat
import sys
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "PAUSE_IMAGE",
    "TESTBOX_APPLETS",
    "TESTBOX_IMAGE",
    "ImageSpec",
    "build_archive",
    "build_node_images",
    "main",
    "tree_layer",
    "write_archive",
]

#: The sandbox image reference containerd is configured with (never pulled: imported).
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
#: The image test pods run (``imagePullPolicy: Never``).
TESTBOX_IMAGE = "localhost/drafast/testbox:1"
#: busybox applets linked into the test image (``/bin/<applet> -> busybox``).
TESTBOX_APPLETS = (
    "sh",
    "cat",
    "echo",
    "env",
    "grep",
    "head",
    "ls",
    "mount",
    "printenv",
    "sleep",
    "stat",
    "test",
    "touch",
    "true",
    "wc",
)

_EPOCH = 0  # every timestamp in the archive
_CREATED = "1970-01-01T00:00:00Z"
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class ImageSpec:
    """One single-layer image: files copied from the host, symlinks, empty dirs, a command."""

    ref: str
    cmd: Sequence[str]
    files: Mapping[str, Path] = field(default_factory=dict)
    """Path in the image -> file on the host (copied with mode 0755)."""
    links: Mapping[str, str] = field(default_factory=dict)
    """Path in the image -> symlink target."""
    dirs: Sequence[str] = ("dev", "etc", "proc", "sys", "tmp", "var")
    env: Sequence[str] = ("PATH=/bin",)


def _tar_info(name: str, kind: bytes, *, size: int = 0, mode: int = 0o755) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.size = size
    ti.mode = mode
    ti.mtime = _EPOCH
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def _layer(spec: ImageSpec) -> bytes:
    """The uncompressed layer tar (directories first, then files, then links; sorted)."""
    buf = io.BytesIO()
    entries: dict[str, tuple[bytes, bytes | str | None]] = {}
    for d in spec.dirs:
        entries[d.strip("/")] = (tarfile.DIRTYPE, None)
    for path, host in spec.files.items():
        entries[path.strip("/")] = (tarfile.REGTYPE, host.read_bytes())
    for path, target in spec.links.items():
        entries[path.strip("/")] = (tarfile.SYMTYPE, target)
    # every parent directory of every entry
    for name in list(entries):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:i]), (tarfile.DIRTYPE, None))
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries, key=lambda n: (n.count("/"), n)):
            kind, data = entries[name]
            if kind == tarfile.DIRTYPE:
                tar.addfile(_tar_info(name, kind, mode=0o1777 if name == "tmp" else 0o755))
            elif kind == tarfile.SYMTYPE:
                ti = _tar_info(name, kind, mode=0o777)
                ti.linkname = str(data)
                tar.addfile(ti)
            else:
                assert isinstance(data, bytes)
                tar.addfile(_tar_info(name, kind, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


def _gzip(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=_EPOCH, compresslevel=6) as gz:
        gz.write(data)
    return out.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _tag_of(ref: str) -> str:
    name, _, tag = ref.rpartition(":")
    return tag if name and "/" not in tag else "latest"


def build_archive(spec: ImageSpec, out: Path, *, arch: str | None = None) -> Path:
    """Write ``spec`` as an OCI image-layout tar at ``out``; return ``out``."""
    image_config = {"Cmd": list(spec.cmd), "Env": list(spec.env), "WorkingDir": "/"}
    return write_archive(_layer(spec), image_config, spec.ref, out, arch=arch)


def tree_layer(root: Path, *, mtime: int = _EPOCH) -> bytes:
    """The uncompressed layer tar of the directory tree ``root`` (a whole root filesystem).

    Reproducible: entries sorted by path (parents first), every timestamp ``mtime``, owner
    root:root, modes as on disk (special bits kept), hard links stored as plain files; only
    directories, regular files and symlinks (anything else is refused).
    """
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in _walk(root):
        rel = dirpath.relative_to(root).as_posix()
        for n in sorted(dirnames) + sorted(filenames):
            entries.append((n if rel == "." else f"{rel}/{n}", dirpath / n))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in sorted(entries, key=lambda e: e[0].split("/")):
            st = path.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                ti = _tar_info(name, tarfile.DIRTYPE, mode=mode)
            elif stat.S_ISLNK(st.st_mode):
                ti = _tar_info(name, tarfile.SYMTYPE, mode=0o777)
                ti.linkname = str(path.readlink())
            elif stat.S_ISREG(st.st_mode):
                data = path.read_bytes()
                ti = _tar_info(name, tarfile.REGTYPE, size=len(data), mode=mode)
                ti.mtime = mtime
                tar.addfile(ti, io.BytesIO(data))
                continue
            else:
                raise ValueError(f"{path}: not a directory, regular file or symlink")
            ti.mtime = mtime
            tar.addfile(ti)
    return buf.getvalue()


def _walk(root: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        # os.walk lists symlinks to directories as directories: report them as files
        links = [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
        dirnames[:] = [d for d in dirnames if d not in links]
        yield Path(dirpath), list(dirnames), filenames + links


def write_archive(
    layer: bytes,
    image_config: Mapping[str, Any],
    ref: str,
    out: Path,
    *,
    arch: str | None = None,
    created: str = _CREATED,
    created_by: str = "drafast.testing.images",
    annotations: Mapping[str, str] | None = None,
) -> Path:
    """Write one single-layer image (uncompressed ``layer`` tar, the config's ``config`` part
    ``image_config``) as an OCI image-layout tar at ``out``, named ``ref``; return ``out``.

    ``annotations`` go on the manifest and the index entry (none: the keys are left out)."""
    goarch = arch or _GOARCH.get(platform.machine(), platform.machine())
    layer_gz = _gzip(layer)
    config = {
        "architecture": goarch,
        "os": "linux",
        "created": created,
        "config": dict(image_config),
        "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
        # the module's old name by default: kept so the test archives stay byte-identical
        "history": [{"created": created, "created_by": created_by}],
    }
    config_b = _canonical(config)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _digest(config_b),
            "size": len(config_b),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _digest(layer_gz),
                "size": len(layer_gz),
            }
        ],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    manifest_b = _canonical(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": manifest["mediaType"],
                "digest": _digest(manifest_b),
                "size": len(manifest_b),
                "platform": {"architecture": goarch, "os": "linux"},
                "annotations": {
                    **(annotations or {}),
                    # containerd's importer names the image after this annotation...
                    "io.containerd.image.name": ref,
                    # ...and other OCI tools after this one (the tag alone)
                    "org.opencontainers.image.ref.name": _tag_of(ref),
                },
            }
        ],
    }
    blobs = {_digest(b): b for b in (layer_gz, config_b, manifest_b)}
    files: list[tuple[str, bytes]] = [
        ("oci-layout", _canonical({"imageLayoutVersion": "1.0.0"})),
        ("index.json", _canonical(index)),
    ]
    files += [(f"blobs/sha256/{d.split(':', 1)[1]}", b) for d, b in sorted(blobs.items())]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(_tar_info(d, tarfile.DIRTYPE))
        for name, data in files:
            tar.addfile(
                _tar_info(name, tarfile.REGTYPE, size=len(data), mode=0o644), io.BytesIO(data)
            )
    tmp.replace(out)
    return out


def pause_spec(busybox: Path) -> ImageSpec:
    """A sandbox image: busybox ``sleep infinity`` (containerd stops sandboxes with SIGKILL)."""
    return ImageSpec(
        ref=PAUSE_IMAGE,
        cmd=("/bin/sleep", "infinity"),
        files={"bin/busybox": busybox},
        links={"bin/sleep": "busybox"},
    )


def testbox_spec(busybox: Path) -> ImageSpec:
    """The test pods' image: busybox with a few applets linked into /bin."""
    return ImageSpec(
        ref=TESTBOX_IMAGE,
        cmd=("/bin/sh",),
        files={"bin/busybox": busybox},
        links={f"bin/{a}": "busybox" for a in TESTBOX_APPLETS},
    )


def build_node_images(busybox: Path, out_dir: Path) -> dict[str, Path]:
    """Build the pause and test images into ``out_dir``; image reference -> archive."""
    if not busybox.is_file():
        raise FileNotFoundError(f"busybox binary {busybox} does not exist")
    built = {
        PAUSE_IMAGE: build_archive(pause_spec(busybox), out_dir / "pause.tar"),
        TESTBOX_IMAGE: build_archive(testbox_spec(busybox), out_dir / "testbox.tar"),
    }
    (out_dir / "images.json").write_text(
        json.dumps({ref: path.name for ref, path in built.items()}, indent=2) + "\n"
    )
    return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oci_image.py", description="Build the test node's pause and busybox OCI archives."
    )
    parser.add_argument("--busybox", type=Path, required=True, help="a static busybox binary")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)
    try:
        built = build_node_images(args.busybox, args.out)
    except OSError as e:
        print(f"oci_image.py: error: {e}", file=sys.stderr)
        return 1
    for ref, path in built.items():
        print(f"    {ref:34} {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
