"""Write the drafast container image from a prepared root filesystem (``tools/image.sh``).

A build helper, not part of the installed package: standard library only, run as a plain script
by ``tools/image.sh`` (``make image``) once the root filesystem is complete::

    python3 tools/build_image.py --rootfs DIR --ref docker.io/library/drafast:0.1.0 \\
        --version 0.1.0 --out dist/drafast-image.tar

One gzip layer holding the whole tree (:func:`oci_image.tree_layer`: sorted entries, every
timestamp ``SOURCE_DATE_EPOCH``), entrypoint ``/usr/local/bin/drafast``, user 0:0 and the OCI
``org.opencontainers.image.*`` labels, with ``created`` from ``--created-epoch`` (never "now"), so
the same tree gives the same digest (the build times and random serial numbers in the wheels'
SBOMs are replaced first: :func:`normalize_sboms`). Prints the manifest digest, the archive's
sha256 and size.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oci_image import tree_layer, write_archive

__all__ = ["ENTRYPOINT", "build", "image_config", "labels", "main", "normalize_sboms"]

ENTRYPOINT = ("/usr/local/bin/drafast",)
SOURCE = "https://drafast.dev"  # the project home (pyproject.toml, Chart.yaml)
LICENSES = "Apache-2.0"
SITE = "usr/lib/python3/dist-packages"  # where tools/image.sh installs the wheels


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def labels(version: str, epoch: int, *, source: str = SOURCE) -> dict[str, str]:
    """The OCI image-spec pre-defined annotation keys, as config labels and annotations."""
    return {
        "org.opencontainers.image.title": "drafast",
        "org.opencontainers.image.description": "Kubernetes DRA kubelet-plugin toolkit and drivers",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.url": "https://drafast.dev",
        "org.opencontainers.image.source": source,
        "org.opencontainers.image.licenses": LICENSES,
        "org.opencontainers.image.created": rfc3339(epoch),
    }


def image_config(version: str, epoch: int, *, source: str = SOURCE) -> dict[str, object]:
    return {
        "Entrypoint": list(ENTRYPOINT),
        "Cmd": ["--help"],
        "Env": [
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "LANG=C.UTF-8",
            "PYTHONUNBUFFERED=1",
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
        ],
        "User": "0:0",  # the kubelet plugin dirs on the host are root's
        "WorkingDir": "/",
        "Labels": labels(version, epoch, source=source),
    }


_SERIAL = re.compile(r'"serialNumber": *"urn:uuid:[0-9a-fA-F-]{36}"')
_TIMESTAMP = re.compile(r'"timestamp": *"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"')


def normalize_sboms(site: Path, epoch: int = 0) -> list[Path]:
    """Make the wheels' CycloneDX SBOMs reproducible: maturin writes a random ``serialNumber`` and
    the build time into ``*.dist-info/sboms/*.json`` on every build, so the same sources would give
    another image. The time becomes ``epoch``, the serial a UUIDv5 of the SBOM's other content, and
    the dist-info RECORD gets the new hash and size. Returns the SBOMs changed."""
    changed = []
    for sbom in sorted(site.glob("*.dist-info/sboms/*.json")):
        text = sbom.read_text()
        if not _SERIAL.search(text) and not _TIMESTAMP.search(text):
            continue
        text = _TIMESTAMP.sub(f'"timestamp": "{rfc3339(epoch)}"', text)
        rest = _SERIAL.sub('"serialNumber": ""', text)
        content = "sha256:" + hashlib.sha256(rest.encode()).hexdigest()
        serial = uuid.uuid5(uuid.NAMESPACE_URL, content)
        data = _SERIAL.sub(f'"serialNumber": "urn:uuid:{serial}"', text).encode()
        sbom.write_bytes(data)
        record = sbom.parent.parent / "RECORD"
        rel = sbom.relative_to(site).as_posix()
        b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines = [
            f"{rel},sha256={b64},{len(data)}" if line.split(",", 1)[0] == rel else line
            for line in record.read_text().splitlines()
        ]
        record.write_text("\n".join(lines) + "\n")
        changed.append(sbom)
    return changed


def build(
    rootfs: Path, ref: str, version: str, out: Path, *, epoch: int = 0, source: str = SOURCE
) -> str:
    """Write the image archive; return its manifest digest."""
    if not (rootfs / ENTRYPOINT[0].lstrip("/")).is_file():
        raise FileNotFoundError(f"{rootfs} has no {ENTRYPOINT[0]}")
    normalize_sboms(rootfs / SITE, epoch)
    lab = labels(version, epoch, source=source)
    write_archive(
        tree_layer(rootfs, mtime=epoch),
        image_config(version, epoch, source=source),
        ref,
        out,
        arch="amd64",
        created=rfc3339(epoch),
        created_by="tools/image.sh",
        annotations=lab,
    )
    return manifest_digest(out)


def manifest_digest(archive: Path) -> str:
    import json
    import tarfile

    with tarfile.open(archive) as t:
        f = t.extractfile("index.json")
        assert f is not None
        return str(json.load(f)["manifests"][0]["digest"])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="build_image.py", description=__doc__.splitlines()[0])
    p.add_argument("--rootfs", type=Path, required=True, help="the complete root filesystem")
    p.add_argument("--ref", required=True, help="image name, e.g. docker.io/library/drafast:0.1.0")
    p.add_argument("--version", required=True, help="the org.opencontainers.image.version")
    p.add_argument("--out", type=Path, required=True, help="the OCI archive to write")
    p.add_argument("--created-epoch", type=int, default=0, help="SOURCE_DATE_EPOCH (default 0)")
    p.add_argument("--source", default=SOURCE, help="org.opencontainers.image.source")
    args = p.parse_args(argv)
    try:
        digest = build(
            args.rootfs,
            args.ref,
            args.version,
            args.out,
            epoch=args.created_epoch,
            source=args.source,
        )
    except (OSError, ValueError) as e:
        print(f"build_image.py: error: {e}", file=sys.stderr)
        return 1
    sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"image    {args.ref}")
    print(f"digest   {digest}")
    print(f"archive  {args.out} ({args.out.stat().st_size} bytes, sha256:{sha})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
