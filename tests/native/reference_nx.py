"""Pure-Python reference of the NX-gzip probe (an oracle for ``drafast._native.nx_probe``).

Written from the same rules as ``rust/nx``: the PowerVM ``nx_gzip_caps`` directory and VAS credit
pools, the PowerNV ``ibm,powerN-nx`` device-tree nodes (N >= 9) with their chip ids, and the
``dev/crypto/nx-gzip`` character device (or its sysfs ``dev`` attribute). Every value is parsed
strictly; errors name the file with the same words as the native code, so results and messages
can be compared exactly. (File names that are not UTF-8 are shown differently: not compared.)
"""

# Paths are plain strings joined like the native code joins them, so messages match exactly.
# ruff: noqa: PTH115, PTH116, PTH118, PTH123

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

MAX_FILE_BYTES = 64 * 1024
SHOW_MAX_BYTES = 32
MAX_MAJOR = (1 << 12) - 1
MAX_MINOR = (1 << 20) - 1
MAX_DEPTH = 64
MIN_GENERATION = 9

VIO_CAPS_DIR = "sys/devices/vio/ibm,compression-v1/nx_gzip_caps"
VAS_GZIP_DIR = "sys/devices/virtual/misc/vas/vas0/gzip"
CAPS_ATTRIBUTES = ("req_max_processed_len", "min_compress_len", "min_decompress_len")
DEVICE_TREE_PROC = "proc/device-tree"
DEVICE_TREE_SYS = "sys/firmware/devicetree/base"
DEVICE_NODE = "dev/crypto/nx-gzip"
SYSFS_DEV = "sys/class/nx-gzip/nx-gzip/dev"


class ReferenceError(Exception):
    """The tree is malformed or unreadable: the message mirrors the native one."""


@dataclass(frozen=True)
class NxVioCaps:
    path: str
    req_max_processed_len: int | None
    min_compress_len: int | None
    min_decompress_len: int | None
    default_credits_total: int | None
    default_credits_used: int | None
    qos_credits_total: int | None
    qos_credits_used: int | None


@dataclass(frozen=True)
class NxEngine:
    node: str
    compatible: str
    generation: int
    chip_id: int


@dataclass(frozen=True)
class NxCharDevice:
    path: str
    major: int
    minor: int
    source: str


@dataclass(frozen=True)
class NxProbe:
    platform: str
    vio: NxVioCaps | None
    device_tree: str | None
    engines: list[NxEngine] = field(default_factory=list)
    char_device: NxCharDevice | None = None
    reason: str = ""

    @property
    def usable(self) -> bool:
        return not self.reason


# ----------------------------------------------------------------------------- files and values


def _malformed(path: str, message: str) -> ReferenceError:
    return ReferenceError(f"{path}: {message}")


def _io(path: str, action: str, err: OSError) -> ReferenceError:
    return ReferenceError(f"{path}: cannot {action}: {err.strerror or err}")


def _kind(path: str, follow: bool) -> tuple[str, int]:
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return "missing", 0
    except OSError as err:
        raise _io(path, "stat", err) from err
    if stat.S_ISDIR(st.st_mode):
        return "dir", 0
    if stat.S_ISCHR(st.st_mode):
        return "char", st.st_rdev
    if stat.S_ISLNK(st.st_mode):
        return "symlink", 0
    return "other", 0


def read_optional(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _io(path, "read", err) from err
    if len(data) > MAX_FILE_BYTES:
        raise _malformed(path, f"larger than {MAX_FILE_BYTES} bytes")
    return data


def show(value: bytes) -> str:
    out = "".join(
        chr(b) if 0x20 <= b <= 0x7E and b not in b'"\\' else f"\\x{b:02x}"
        for b in value[:SHOW_MAX_BYTES]
    )
    return f'"{out}..."' if len(value) > SHOW_MAX_BYTES else f'"{out}"'


def _strip_newline(value: bytes) -> bytes:
    return value[:-1] if value.endswith(b"\n") else value


def _digits(value: bytes) -> bool:
    return bool(value) and all(0x30 <= b <= 0x39 for b in value)


def _decimal(value: bytes) -> int | None:
    if not _digits(value) or len(value) > 20:
        return None
    n = int(value)
    return n if n < 2**64 else None


def parse_u64(path: str, data: bytes) -> int:
    value = _strip_newline(data)
    if not value:
        raise _malformed(path, "empty value")
    if not _digits(value):
        raise _malformed(path, f"not a decimal number: {show(value)}")
    n = _decimal(value)
    if n is None:
        raise _malformed(path, f"out of range for a 64-bit unsigned integer: {show(value)}")
    return n


def parse_dev(path: str, data: bytes) -> tuple[int, int]:
    value = _strip_newline(data)
    parts = value.split(b":")
    if len(parts) == 2:
        major, minor = _decimal(parts[0]), _decimal(parts[1])
        if major is not None and minor is not None and major <= MAX_MAJOR and minor <= MAX_MINOR:
            return major, minor
    raise _malformed(
        path,
        f"expected MAJOR:MINOR (major <= {MAX_MAJOR}, minor <= {MAX_MINOR}), found {show(value)}",
    )


def parse_cell(path: str, data: bytes) -> int:
    if len(data) != 4:
        raise _malformed(path, f"expected 4 bytes (one big-endian cell), found {len(data)}")
    return int.from_bytes(data, "big")


def _read_u64(path: str) -> int | None:
    data = read_optional(path)
    return None if data is None else parse_u64(path, data)


# ----------------------------------------------------------------------------- PowerVM


def probe_vio(root: str) -> NxVioCaps | None:
    caps = os.path.join(root, VIO_CAPS_DIR)
    kind, _ = _kind(caps, follow=False)
    if kind == "missing":
        return None
    if kind != "dir":
        raise _malformed(caps, "not a directory")
    vas = os.path.join(root, VAS_GZIP_DIR)
    values = [_read_u64(os.path.join(caps, name)) for name in CAPS_ATTRIBUTES]
    for group in ("default_capabilities", "qos_capabilities"):
        for name in ("nr_total_credits", "nr_used_credits"):
            values.append(_read_u64(os.path.join(vas, group, name)))
    return NxVioCaps(caps, *values)


# ----------------------------------------------------------------------------- PowerNV


def find_tree(root: str) -> str | None:
    proc = os.path.join(root, DEVICE_TREE_PROC)
    kind, _ = _kind(proc, follow=False)
    if kind == "dir":
        return proc
    if kind == "symlink":
        try:
            target = os.readlink(proc)
        except OSError as err:
            raise _io(proc, "read link", err) from err
        if target.startswith("/"):
            resolved = os.path.join(root, target.lstrip("/"))
        else:
            resolved = os.path.join(root, "proc", target)
        rkind, _ = _kind(resolved, follow=True)
        if rkind == "dir":
            return resolved
        if rkind != "missing":
            raise _malformed(proc, f"links to {resolved}, not a directory")
    elif kind != "missing":
        raise _malformed(proc, "not a directory")
    sys_tree = os.path.join(root, DEVICE_TREE_SYS)
    kind, _ = _kind(sys_tree, follow=False)
    if kind == "dir":
        return sys_tree
    if kind == "missing":
        return None
    raise _malformed(sys_tree, "not a directory")


def nx_generation(compatible: bytes) -> int | None:
    if not (compatible.startswith(b"ibm,power") and compatible.endswith(b"-nx")):
        return None
    digits = compatible[len(b"ibm,power") : -len(b"-nx")]
    if not (1 <= len(digits) <= 4) or digits[:1] == b"0" or not _digits(digits):
        return None
    n = int(digits)
    return n if n >= MIN_GENERATION else None


def match_compatible(path: str, value: bytes) -> tuple[str, int] | None:
    found = next(((s, g) for s in value.split(b"\0") if (g := nx_generation(s)) is not None), None)
    if found is None:
        return None
    if not value.endswith(b"\0"):
        raise _malformed(
            path, f"not NUL-terminated (device-tree strings end in NUL): {show(value)}"
        )
    for s in value[:-1].split(b"\0"):
        if not s:
            raise _malformed(path, f"empty string in the list: {show(value)}")
        bad = next((b for b in s if not 0x21 <= b <= 0x7E), None)
        if bad is not None:
            raise _malformed(path, f"byte 0x{bad:02x} is not printable ASCII in {show(s)}")
    return found[0].decode("ascii"), found[1]


def _chip_id(ancestors: list[str]) -> int:
    for directory in reversed(ancestors):
        path = os.path.join(directory, "ibm,chip-id")
        data = read_optional(path)
        if data is not None:
            return parse_cell(path, data)
    raise _malformed(
        ancestors[-1], "NX node without ibm,chip-id (neither in the node nor in a parent node)"
    )


def _walk(ancestors: list[str], rel: str, found: list[NxEngine]) -> None:
    directory = ancestors[-1]
    if len(ancestors) > MAX_DEPTH + 1:
        raise _malformed(directory, f"more than {MAX_DEPTH} levels below the device-tree root")
    children: list[bytes] = []
    has_compatible = False
    try:
        with os.scandir(os.fsencode(directory)) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    children.append(entry.name)
                elif entry.is_file(follow_symlinks=False) and entry.name == b"compatible":
                    has_compatible = True
    except OSError as err:
        raise _io(directory, "list", err) from err
    if has_compatible:
        path = os.path.join(directory, "compatible")
        value = read_optional(path)
        if value is not None:
            matched = match_compatible(path, value)
            if matched is not None:
                found.append(
                    NxEngine(
                        node=rel,
                        compatible=matched[0],
                        generation=matched[1],
                        chip_id=_chip_id(ancestors),
                    )
                )
    for name in sorted(children):
        text = os.fsdecode(name)
        ancestors.append(os.path.join(directory, text))
        _walk(ancestors, f"{rel}/{text}" if rel else text, found)
        ancestors.pop()


def probe_engines(tree: str) -> list[NxEngine]:
    found: list[NxEngine] = []
    _walk([tree], "", found)
    owners: dict[int, str] = {}
    for engine in found:
        other = owners.get(engine.chip_id)
        if other is not None:
            raise _malformed(
                os.path.join(tree, engine.node),
                f"chip id {engine.chip_id} is also the chip id of NX node {other}",
            )
        owners[engine.chip_id] = engine.node
    return sorted(found, key=lambda e: e.chip_id)


# ----------------------------------------------------------------------------- device node


def probe_char_device(root: str) -> NxCharDevice | None:
    node = os.path.join(root, DEVICE_NODE)
    kind, rdev = _kind(node, follow=False)
    if kind == "char":
        return NxCharDevice(node, os.major(rdev), os.minor(rdev), "node")
    if kind != "missing":
        raise _malformed(node, "not a character device")
    attr = os.path.join(root, SYSFS_DEV)
    data = read_optional(attr)
    if data is None:
        return None
    major, minor = parse_dev(attr, data)
    return NxCharDevice(attr, major, minor, "sysfs")


# ----------------------------------------------------------------------------- whole probe


def probe(root: str) -> NxProbe:
    kind, _ = _kind(root, follow=True)
    if kind == "missing":
        raise _malformed(root, "host root does not exist")
    if kind != "dir":
        raise _malformed(root, "host root is not a directory")
    vio = probe_vio(root)
    tree = find_tree(root)
    engines = probe_engines(tree) if tree is not None else []
    char_device = probe_char_device(root)
    platform = "powervm" if vio is not None else "powernv" if engines else ""
    return NxProbe(
        platform=platform,
        vio=vio,
        device_tree=tree,
        engines=engines,
        char_device=char_device,
        reason=_reason(root, platform, tree, char_device),
    )


def _reason(root: str, platform: str, tree: str | None, char_device: NxCharDevice | None) -> str:
    def at(rel: str) -> str:
        return os.path.join(root, rel)

    if not platform:
        where = (
            f"{tree} has no ibm,powerN-nx node with N >= {MIN_GENERATION}"
            if tree is not None
            else f"there is no device tree at {at(DEVICE_TREE_PROC)} or {at(DEVICE_TREE_SYS)}"
        )
        return (
            f"no NX-gzip accelerator: {at(VIO_CAPS_DIR)} does not exist (PowerVM) "
            f"and {where} (PowerNV)"
        )
    if char_device is None:
        return (
            f"NX-gzip accelerator found ({platform}) but neither {at(DEVICE_NODE)} nor "
            f"{at(SYSFS_DEV)} exists: is the kernel's nx-gzip driver loaded?"
        )
    return ""
