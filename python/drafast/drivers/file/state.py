"""The file driver's private part of a prepared claim (``PreparedClaim.state``), versioned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drafast.driver import state_version
from drafast.errors import DriverStateError
from drafast.types import JSON

VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class FileClaimState:
    """Which files carry the claim's lines, and the lines (one per consuming pod)."""

    files: tuple[str, ...]
    lines: tuple[str, ...]

    def to_json(self) -> JSON:
        return {"v": VERSION, "files": list(self.files), "lines": list(self.lines)}

    @classmethod
    def from_json(cls, doc: JSON) -> FileClaimState:
        """Version 1 (``v`` absent in records written before it was versioned) or refuse."""
        state_version(doc, VERSION, "file")
        return cls(files=_strings(doc, "files"), lines=_strings(doc, "lines"))


def _strings(doc: JSON, key: str) -> tuple[str, ...]:
    value: Any = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DriverStateError(f"file driver state: {key} must be a list of strings")
    return tuple(value)
