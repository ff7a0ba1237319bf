"""Pure-Python reference of the CDI spec rules (an oracle for drafast._native).

Written from the spec facts: strict parsing (unknown fields, wrong types rejected; ``null`` and
empty values mean absent), name rules, validation in document order, the minimum ``cdiVersion``
and the canonical JSON encoding (fixed field order, empty optional fields omitted).
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

VERSIONS = ["0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0"]
HOOK_NAMES = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
]


class ReferenceError(Exception):
    """A rule is broken: the message mirrors the native one."""


class ReferenceParseError(ReferenceError):
    """Not JSON, or the wrong shape: only the ``CDI spec: `` prefix matches the native message."""


# Field order is the canonical output order. (json name, type, required)
# Types: str, i64, u32, bool, map (str -> str), ("list", T), ("struct", S), ("option", S).
SCHEMA: dict[str, list[tuple[str, Any, bool]]] = {
    "spec": [
        ("cdiVersion", "str", False),
        ("kind", "str", True),
        ("annotations", "map", False),
        ("devices", ("list", ("struct", "device")), True),
        ("containerEdits", ("struct", "edits"), False),
    ],
    "device": [
        ("name", "str", True),
        ("annotations", "map", False),
        ("containerEdits", ("struct", "edits"), False),
    ],
    "edits": [
        ("env", ("list", "str"), False),
        ("deviceNodes", ("list", ("struct", "deviceNode")), False),
        ("hooks", ("list", ("struct", "hook")), False),
        ("mounts", ("list", ("struct", "mount")), False),
        ("intelRdt", ("option", "intelRdt"), False),
        ("additionalGids", ("list", "u32"), False),
        ("netDevices", ("list", ("struct", "netDevice")), False),
    ],
    "deviceNode": [
        ("path", "str", True),
        ("hostPath", "str", False),
        ("type", "str", False),
        ("major", "i64", False),
        ("minor", "i64", False),
        ("fileMode", "u32", False),
        ("permissions", "str", False),
        ("uid", "u32", False),
        ("gid", "u32", False),
    ],
    "mount": [
        ("hostPath", "str", True),
        ("containerPath", "str", True),
        ("type", "str", False),
        ("options", ("list", "str"), False),
    ],
    "hook": [
        ("hookName", "str", True),
        ("path", "str", True),
        ("args", ("list", "str"), False),
        ("env", ("list", "str"), False),
        ("timeout", "i64", False),
    ],
    "intelRdt": [
        ("closID", "str", False),
        ("l3CacheSchema", "str", False),
        ("memBwSchema", "str", False),
        ("schemata", ("list", "str"), False),
        ("enableMonitoring", "bool", False),
    ],
    "netDevice": [("hostInterfaceName", "str", True), ("name", "str", True)],
}

_RANGES = {"i64": (-(2**63), 2**63), "u32": (0, 2**32)}


def _parse_error(msg: str) -> ReferenceError:
    return ReferenceParseError(f"CDI spec: {msg}")


def _default(typ: Any) -> Any:
    if typ == "str":
        return ""
    if typ == "bool":
        return False
    if typ == "map":
        return {}
    if typ in ("i64", "u32") or typ[0] == "option":
        return None
    if typ[0] == "list":
        return []
    return _struct({}, typ[1])


def _value(value: Any, typ: Any, where: str) -> Any:
    if typ == "str":
        if not isinstance(value, str):
            raise _parse_error(f"{where}: expected a string")
        value.encode("utf-8")  # lone surrogates are not valid
        return value
    if typ == "bool":
        if not isinstance(value, bool):
            raise _parse_error(f"{where}: expected a boolean")
        return value
    if typ in _RANGES:
        low, high = _RANGES[typ]
        if type(value) is not int or not low <= value < high:
            raise _parse_error(f"{where}: expected {typ}")
        return value
    if typ == "map":
        if not isinstance(value, dict):
            raise _parse_error(f"{where}: expected a map")
        return {_value(k, "str", where): _value(v, "str", f"{where}.{k}") for k, v in value.items()}
    if typ[0] == "list":
        if not isinstance(value, list):
            raise _parse_error(f"{where}: expected a list")
        return [_value(item, typ[1], f"{where}[{i}]") for i, item in enumerate(value)]
    return _struct(value, typ[1], where)


def _struct(obj: Any, name: str, where: str = "spec") -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _parse_error(f"{where}: expected an object")
    fields = SCHEMA[name]
    unknown = set(obj) - {field for field, _, _ in fields}
    if unknown:
        raise _parse_error(f"{where}: unknown field {sorted(unknown)[0]!r}")
    out = {}
    for field, typ, required in fields:
        if required and obj.get(field) is None:
            raise _parse_error(f"{where}: missing field {field!r}")
        value = obj.get(field)
        out[field] = _default(typ) if value is None else _value(value, typ, f"{where}.{field}")
    return out


def _reject_constant(name: str) -> object:
    raise ValueError(f"not JSON: {name}")


def parse(spec: bytes) -> dict[str, Any]:
    """Parse JSON bytes into the normalized model (every field present, absent = default)."""
    try:
        doc = json.loads(spec.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise _parse_error(str(e)) from None
    return _struct(doc, "spec")


def _check_name(what: str, name: str, digit_first: bool, extra: str, limit: int | None) -> None:
    def fail(rule: str) -> ReferenceError:
        return ReferenceError(f'CDI {what} "{name}": {rule}')

    def alpha(c: str) -> bool:
        return c.isascii() and c.isalpha()

    def alnum(c: str) -> bool:
        return c.isascii() and c.isalnum()

    if not name:
        raise fail("must not be empty")
    if not (alpha(name[0]) or (digit_first and name[0].isascii() and name[0].isdigit())):
        raise fail(
            "must start with a letter or digit" if digit_first else "must start with a letter"
        )
    if not alnum(name[-1]):
        raise fail("must end with a letter or digit")
    for c in name:
        if not alnum(c) and c not in extra:
            allowed = ", ".join(f"'{x}'" for x in extra)
            raise fail(f"invalid character '{c}' (allowed: letters, digits, {allowed})")
    if limit is not None and len(name) > limit:
        raise fail(f"must be at most {limit} characters")


def validate_vendor(name: str) -> None:
    _check_name("vendor", name, False, "_.-", None)


def validate_class(name: str) -> None:
    _check_name("class", name, False, "_.-", 63)


def validate_device_name(name: str) -> None:
    _check_name("device name", name, True, "_.:-", None)


def _env(ctx: str, env: list[str]) -> None:
    for entry in env:
        if entry.find("=") <= 0:
            raise ReferenceError(f'{ctx}: env "{entry}": must be NAME=value with a non-empty NAME')


def _edits(ctx: str, edits: dict[str, Any]) -> None:
    def fail(what: str) -> ReferenceError:
        return ReferenceError(f"{ctx}: {what}")

    _env(ctx, edits["env"])
    for node in edits["deviceNodes"]:
        path = node["path"]
        if not path:
            raise fail("deviceNode path must not be empty")
        if node["type"] and node["type"] not in ("b", "c", "u", "p"):
            raise fail(f'deviceNode "{path}": type "{node["type"]}" must be one of b, c, u, p')
        if any(c not in "rwm" for c in node["permissions"]):
            perms = node["permissions"]
            raise fail(f'deviceNode "{path}": permissions "{perms}" may only contain r, w, m')
    for hook in edits["hooks"]:
        if hook["hookName"] not in HOOK_NAMES:
            names = ", ".join(HOOK_NAMES)
            raise fail(f'hook hookName "{hook["hookName"]}" must be one of {names}')
        if not hook["path"]:
            raise fail(f'hook "{hook["hookName"]}": path must not be empty')
        _env(f'{ctx}: hook "{hook["path"]}"', hook["env"])
        if hook["timeout"] is not None and hook["timeout"] <= 0:
            raise fail(f'hook "{hook["path"]}": timeout must be > 0')
    for mount in edits["mounts"]:
        if not mount["hostPath"]:
            raise fail("mount hostPath must not be empty")
        if not mount["containerPath"]:
            raise fail(f'mount of "{mount["hostPath"]}": containerPath must not be empty')
    for net in edits["netDevices"]:
        if not net["hostInterfaceName"]:
            raise fail("netDevice hostInterfaceName must not be empty")
        if not net["name"]:
            raise fail(f'netDevice "{net["hostInterfaceName"]}": name must not be empty')


def validate(spec: dict[str, Any]) -> None:
    kind = spec["kind"]
    if "/" not in kind:
        raise ReferenceError(f'CDI kind "{kind}": must be vendor/class')
    vendor, cls = kind.split("/", 1)
    validate_vendor(vendor)
    validate_class(cls)
    if not spec["devices"]:
        raise ReferenceError("CDI spec: devices must not be empty")
    seen = set()
    for device in spec["devices"]:
        validate_device_name(device["name"])
        if device["name"] in seen:
            raise ReferenceError(f'CDI device name "{device["name"]}": duplicate')
        seen.add(device["name"])
        _edits(f'CDI device "{device["name"]}" containerEdits', device["containerEdits"])
    _edits("CDI spec containerEdits", spec["containerEdits"])


def minimum_version(spec: dict[str, Any]) -> str:
    edits = [d["containerEdits"] for d in spec["devices"]] + [spec["containerEdits"]]
    rdts = [e["intelRdt"] for e in edits if e["intelRdt"] is not None]
    cls = spec["kind"].split("/", 1)[1]
    if any(e["netDevices"] for e in edits) or any(
        r["schemata"] or r["enableMonitoring"] for r in rdts
    ):
        return "1.1.0"
    if rdts or any(e["additionalGids"] for e in edits):
        return "0.7.0"
    if spec["annotations"] or any(d["annotations"] for d in spec["devices"]) or "." in cls:
        return "0.6.0"
    if any(d["name"][:1].isdigit() for d in spec["devices"]) or any(
        n["hostPath"] for e in edits for n in e["deviceNodes"]
    ):
        return "0.5.0"
    if any(m["type"] for e in edits for m in e["mounts"]):
        return "0.4.0"
    return "0.3.0"


def _canonical(value: dict[str, Any], name: str) -> dict[str, Any]:
    """Fields in schema order; optional fields omitted when empty (intelRdt when absent), a
    device's containerEdits always kept."""
    out: dict[str, Any] = {}
    for field, typ, required in SCHEMA[name]:
        item = value[field]
        keep = required or (name == "device" and field == "containerEdits")
        if isinstance(typ, tuple) and typ[0] in ("struct", "option"):
            if item is None:
                continue
            item = _canonical(item, typ[1])
            keep = keep or typ[0] == "option"
        elif isinstance(typ, tuple) and typ[1] != "str" and typ[1] not in _RANGES:
            item = [_canonical(x, typ[1][1]) for x in item]
        empty = item is None or item is False or item in ("", [], {})
        if keep or not empty:
            out[field] = dict(sorted(item.items())) if typ == "map" else item
    return out


def render(spec_bytes: bytes) -> bytes:
    spec = parse(spec_bytes)
    validate(spec)
    spec["cdiVersion"] = minimum_version(spec)
    doc = _canonical(spec, "spec")
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def minimum_version_of(spec_bytes: bytes) -> str:
    spec = parse(spec_bytes)
    validate(spec)
    return minimum_version(spec)


def check_file_name(file_name: str) -> None:
    def fail(rule: str) -> ReferenceError:
        return ReferenceError(f'CDI spec file name "{file_name}": {rule}')

    if "/" in file_name or "\0" in file_name:
        raise fail("must not contain '/' or NUL")
    if file_name.startswith("."):
        raise fail("must not start with '.'")
    if not file_name.endswith((".json", ".yaml")):
        raise fail("must end in .json or .yaml")


_counter = itertools.count(1)


def write_spec(directory: str, file_name: str, spec: bytes) -> str:
    """Same file operations as the native writer: temp file, then rename (no fsync)."""
    check_file_name(file_name)
    data = render(spec)
    path = Path(directory) / file_name
    temp = Path(directory) / f".{file_name}.tmp.{os.getpid()}.{next(_counter)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    temp.replace(path)
    return str(path)
