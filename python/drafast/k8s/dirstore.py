"""A directory-backed store of Kubernetes objects, the offline stand-in for the API server.

Layout: ``PATH/<resource>/<namespace>/<name>.yaml`` for namespaced objects and
``PATH/<resource>/<name>.yaml`` for cluster-scoped ones (``.yml`` and ``.json`` are read too),
``<resource>`` being the plural API name (``resourceclaims``, ``resourceslices``, ...). Writes are
atomic (temp file + rename), so readers never see half an object.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from pathlib import Path
from typing import Any

import orjson

from drafast.errors import ClaimError, ClaimNotFoundError, ConfigError
from drafast.resourceapi.names import is_dns_label, is_dns_subdomain
from drafast.types import JSON, ClaimRef

_SUFFIXES = (".json", ".yaml", ".yml")  # JSON first: what put() writes
_counter = itertools.count()


def _yaml_load(raw: bytes) -> Any:
    # yaml loads on first use (5-10 ms): the plugin itself writes and mostly reads JSON.
    import yaml

    # libyaml's C loader/dumper are ~10x faster than the pure-Python ones; same results.
    try:
        return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        raise ValueError(str(err)) from err


def _yaml_dump(obj: JSON) -> str:
    import yaml

    return yaml.dump(obj, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)


def _check_names(resource: str, name: str | None, namespace: str | None) -> None:
    """Object names become paths here: anything that could leave the store is refused."""
    if not is_dns_label(resource):
        raise ConfigError(f"resource {resource!r} is not a DNS label")
    if namespace is not None and not is_dns_label(namespace):
        raise ConfigError(f"namespace {namespace!r} is not a DNS label")
    if name is not None and not is_dns_subdomain(name):
        raise ConfigError(f"object name {name!r} is not a DNS subdomain")


def read_regular_file(path: str) -> bytes:
    """The whole file, if it is a regular one. The open never blocks (a FIFO or a device at an
    object's path would otherwise freeze the event loop), and anything else is refused."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class DirStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, resource: str, namespace: str | None) -> Path:
        _check_names(resource, None, namespace)
        return self.root / resource / namespace if namespace else self.root / resource

    def find(self, resource: str, name: str, namespace: str | None = None) -> Path | None:
        _check_names(resource, name, namespace)
        d = self._dir(resource, namespace)
        for suffix in _SUFFIXES:
            p = d / f"{name}{suffix}"
            if p.is_file():
                return p
        return None

    def read(self, resource: str, name: str, namespace: str | None = None) -> JSON | None:
        """Like :meth:`get`, with one open() per object in the common case (no stat first)."""
        _check_names(resource, name, namespace)
        # Strings, not Paths: this runs for every claim of every prepare in dir: mode.
        d = f"{self.root}/{resource}/{namespace}" if namespace else f"{self.root}/{resource}"
        for suffix in _SUFFIXES:
            path = f"{d}/{name}{suffix}"
            try:
                raw = read_regular_file(path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as err:
                raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from err
            return self.decode(Path(path), raw)
        return None

    @staticmethod
    def load(path: Path) -> JSON:
        """Read one object; errors name the file."""
        try:
            raw = read_regular_file(str(path))
        except OSError as err:
            raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from err
        return DirStore.decode(path, raw)

    @staticmethod
    def decode(path: Path, raw: bytes) -> JSON:
        try:
            obj: Any = orjson.loads(raw) if path.suffix == ".json" else _yaml_load(raw)
        except ValueError as err:  # orjson.JSONDecodeError is one too
            raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {err}") from err
        if not isinstance(obj, dict):
            raise ConfigError(f"{path}: expected one object, got {type(obj).__name__}")
        return obj

    def get(self, resource: str, name: str, namespace: str | None = None) -> JSON | None:
        p = self.find(resource, name, namespace)
        return None if p is None else self.load(p)

    def list(self, resource: str, namespace: str | None = None) -> list[tuple[Path, JSON]]:
        d = self._dir(resource, namespace)
        if not d.is_dir():
            return []
        return [(p, self.load(p)) for p in sorted(d.iterdir()) if p.suffix in _SUFFIXES]

    def put(
        self, resource: str, obj: JSON, namespace: str | None = None, *, fmt: str = "json"
    ) -> Path:
        """Write ``obj`` as ``<name>.json`` (default: ~30x faster to read back than YAML, and
        the plugin reads claims on every prepare) or ``<name>.yaml``."""
        name = obj["metadata"]["name"]
        _check_names(resource, name, namespace)
        d = self._dir(resource, namespace)
        d.mkdir(parents=True, exist_ok=True)
        suffix = ".yaml" if fmt == "yaml" else ".json"
        for other in _SUFFIXES:  # one file per object: drop other spellings
            if other != suffix:
                (d / f"{name}{other}").unlink(missing_ok=True)
        path = d / f"{name}{suffix}"
        tmp = d / f".{name}{suffix}.tmp.{os.getpid()}.{next(_counter)}"
        if suffix == ".json":
            tmp.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2))
        else:
            tmp.write_text(_yaml_dump(obj), encoding="utf-8")
        tmp.replace(path)
        return path

    def delete(self, resource: str, name: str, namespace: str | None = None) -> bool:
        p = self.find(resource, name, namespace)
        if p is None:
            return False
        p.unlink(missing_ok=True)
        return True


class DirClaimSource:
    """:class:`drafast.driver.ClaimSource` over a :class:`DirStore`.

    Reads run on the event loop: a claim file is one small open and read (~15 us), cheaper than
    a worker-thread hop, which also has to win the GIL from the busy loop twice.
    """

    def __init__(self, store: DirStore) -> None:
        self.store = store

    async def get_claim(self, ref: ClaimRef) -> JSON:
        try:
            obj = self.store.read("resourceclaims", ref.name, ref.namespace)
        except ConfigError as err:
            raise ClaimError(f"{ref}: {err}") from err
        if obj is None:
            raise ClaimNotFoundError(f"{ref}: not found in {self.store.root}")
        return obj
