"""Pure-Python reference of the checkpoint format and store (an oracle for drafast._native).

Written from the format description, not from the Rust code: envelope line
``drafast-checkpoint/v1 crc32c=<8 lowercase hex> length=<payload bytes>\\n`` followed by the payload
``{"generation":N,"claims":{"key":<raw JSON>,...}}`` (keys sorted, values embedded verbatim);
the journal beside it: entries of the same envelope line with the magic ``drafast-journal/v``,
then ``{"generation":G,"put":{...},"delete":[...]}`` and a newline.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

FORMAT_VERSION = 1
MAGIC = b"drafast-checkpoint/v"
_WHITESPACE = b" \t\n\r"


class ReferenceError(Exception):
    """The reference's only error: the message mirrors the native one."""


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), reflected, init and final xor 0xffffffff (zlib has no crc32c)."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _reject_constant(name: str) -> object:
    raise ValueError(f"not JSON: {name}")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _rust_debug(text: str) -> str:
    """Quote like Rust's ``{:?}`` for the printable-ASCII keys the tests compare."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_key(key: str) -> None:
    if not key:
        raise ReferenceError(f"key {_rust_debug(key)}: must not be empty")
    if not all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in key):
        raise ReferenceError(
            f"key {_rust_debug(key)}: must be printable ASCII without '\"' or '\\'"
        )


def check_value(key: str, value: bytes) -> None:
    """One JSON document, no surrounding whitespace (it must read back byte for byte)."""
    try:
        text = value.decode("utf-8")
        _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError) as e:
        raise ReferenceError(f"value of key {_rust_debug(key)}: {e}") from None
    if value[:1] in (b" ", b"\t", b"\n", b"\r") or value[-1:] in (b" ", b"\t", b"\n", b"\r"):
        raise ReferenceError(f"value of key {_rust_debug(key)}: leading or trailing whitespace")


def encode_state(generation: int, state: dict[str, bytes]) -> bytes:
    """Encode an already validated state."""
    parts = [b'{"generation":', str(generation).encode(), b',"claims":{']
    for i, key in enumerate(sorted(state)):
        if i:
            parts.append(b",")
        parts += [b'"', key.encode("ascii"), b'":', state[key]]
    parts.append(b"}}")
    payload = b"".join(parts)
    envelope = f"drafast-checkpoint/v1 crc32c={crc32c(payload):08x} length={len(payload)}\n"
    return envelope.encode() + payload


def encode(generation: int, entries: Iterable[tuple[str, bytes]]) -> bytes:
    if not 0 <= generation < 2**64:
        raise ValueError("generation out of range")
    state: dict[str, bytes] = {}
    for key, value in entries:
        check_key(key)
        check_value(key, value)
        if key in state:
            raise ReferenceError(f"key {_rust_debug(key)}: duplicate")
        state[key] = value
    return encode_state(generation, state)


class _Fail(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind, self.detail = kind, detail


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def next(self) -> int:
        if self.pos >= len(self.data):
            raise _Fail("incomplete")
        self.pos += 1
        return self.data[self.pos - 1]

    def literal(self, text: bytes) -> None:
        for want in text:
            if self.next() != want:
                raise _Fail("bad", "unexpected byte")

    def hex32(self) -> int:
        value = 0
        for _ in range(8):
            c = self.next()
            if not (0x30 <= c <= 0x39 or 0x61 <= c <= 0x66):
                raise _Fail("bad", "crc32c must be 8 lowercase hex digits")
            value = value << 4 | int(chr(c), 16)
        return value

    def decimal(self, what: str) -> int:
        start = self.pos
        while True:
            if self.pos >= len(self.data):
                raise _Fail("incomplete")
            if not 0x30 <= self.data[self.pos] <= 0x39:
                break
            self.pos += 1
            if int(self.data[start : self.pos]) >= 2**64:
                raise _Fail("bad", what)
        digits = self.data[start : self.pos]
        if not digits or (len(digits) > 1 and digits[:1] == b"0"):
            raise _Fail("bad", what)
        return int(digits)


def _envelope(data: bytes, magic: bytes = MAGIC) -> tuple[int, int, bytes]:
    cur = _Cursor(data)
    try:
        cur.literal(magic)
    except _Fail as fail:
        raise _Fail("magic" if fail.kind == "bad" else fail.kind) from None
    version = cur.decimal("format version")
    if version == 0:
        raise _Fail("bad", "format version 0")
    if version != FORMAT_VERSION:
        raise _Fail("newer", str(version))
    cur.literal(b" crc32c=")
    crc = cur.hex32()
    cur.literal(b" length=")
    length = cur.decimal("length")
    cur.literal(b"\n")
    return crc, length, data[cur.pos :]


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\n\r":
        i += 1
    return i


def _members(text: str, i: int) -> Iterable[tuple[str, int, int]]:
    """Walk a JSON object at ``text[i]``: yield (key, value start, value end)."""
    if text[i : i + 1] != "{":
        raise ValueError("expected an object")
    i = _skip_ws(text, i + 1)
    if text[i : i + 1] == "}":
        return i + 1
    while True:
        if text[i : i + 1] != '"':
            raise ValueError("expected a key")
        key_end = text.index('"', i + 1)
        key = text[i + 1 : key_end]
        if "\\" in key:  # valid keys never need escapes; the native parser borrows them
            raise ValueError("escaped key")
        json.loads(text[i : key_end + 1])  # control characters etc.
        i = _skip_ws(text, key_end + 1)
        if text[i : i + 1] != ":":
            raise ValueError("expected ':'")
        start = _skip_ws(text, i + 1)
        _, end = _DECODER.raw_decode(text, start)
        yield key, start, end
        i = _skip_ws(text, end)
        if text[i : i + 1] == "}":
            return i + 1
        if text[i : i + 1] != ",":
            raise ValueError("expected ',' or '}'")
        i = _skip_ws(text, i + 1)


def _walk(text: str, i: int, out: list[tuple[str, int, int]]) -> int:
    """Collect an object's members into ``out``; return the index after the object."""
    gen = _members(text, i)
    while True:
        try:
            out.append(next(gen))
        except StopIteration as stop:
            return int(stop.value)


def _payload(text: str) -> tuple[int, list[tuple[str, bytes]]]:
    top: list[tuple[str, int, int]] = []
    end = _walk(text, _skip_ws(text, 0), top)
    if _skip_ws(text, end) != len(text):
        raise ValueError("trailing characters")
    names = [name for name, _, _ in top]
    if sorted(names) != ["claims", "generation"]:
        raise ValueError(f"fields {names}: want generation and claims")
    fields = {name: (start, stop) for name, start, stop in top}
    generation = json.loads(text[slice(*fields["generation"])])
    if type(generation) is not int or not 0 <= generation < 2**64:
        raise ValueError("generation must be a u64")
    claims: list[tuple[str, int, int]] = []
    _walk(text, fields["claims"][0], claims)
    return generation, [(key, text[start:stop].encode()) for key, start, stop in claims]


def decode(data: bytes, name: str) -> tuple[int, list[tuple[str, bytes]]]:
    try:
        crc, want, payload = _envelope(data)
    except _Fail as fail:
        if fail.kind == "incomplete":
            msg = f"truncated (torn write?): {len(data)} bytes, envelope line incomplete"
        elif fail.kind == "magic":
            msg = "not a drafast checkpoint (bad magic)"
        elif fail.kind == "newer":
            msg = f"written by a newer drafast (format v{fail.detail}); this build reads v1"
        else:
            msg = f"malformed envelope line: {fail.detail}"
        raise ReferenceError(f"{name}: {msg}") from None
    if len(payload) < want:
        raise ReferenceError(f"{name}: truncated (torn write?): {len(payload)} of {want} bytes")
    if len(payload) > want:
        raise ReferenceError(
            f"{name}: trailing garbage: {len(payload)} payload bytes, envelope says {want}"
        )
    actual = crc32c(payload)
    if actual != crc:
        raise ReferenceError(
            f"{name}: checksum mismatch: corrupted (crc32c {actual:08x}, envelope says {crc:08x})"
        )
    try:
        generation, entries = _payload(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ReferenceError(f"{name}: malformed payload: {e}") from None
    seen: set[str] = set()
    for key, _ in entries:
        try:
            check_key(key)
        except ReferenceError as e:
            raise ReferenceError(f"{name}: {e}") from None
        if key in seen:
            raise ReferenceError(f"{name}: key {_rust_debug(key)}: duplicate")
        seen.add(key)
    return generation, sorted(entries)


# ----------------------------------------------------------------------------- journal

JOURNAL_MAGIC = b"drafast-journal/v"
JOURNAL_MIN_LIMIT = 64 * 1024


def encode_entry(generation: int, puts: dict[str, bytes], deletes: Sequence[str]) -> bytes:
    """One journal entry: the envelope line (journal magic), the payload, a newline."""
    parts = [b'{"generation":', str(generation).encode(), b',"put":{']
    parts.append(b",".join(b'"' + k.encode() + b'":' + puts[k] for k in sorted(puts)))
    parts.append(b'},"delete":[')
    parts.append(b",".join(b'"' + k.encode() + b'"' for k in sorted(set(deletes))))
    parts.append(b"]}")
    payload = b"".join(parts)
    line = f"drafast-journal/v1 crc32c={crc32c(payload):08x} length={len(payload)}\n"
    return line.encode() + payload + b"\n"


def replay(data: bytes, name: str, generation: int, state: dict[str, bytes]) -> tuple[int, int]:
    """Apply the journal's entries above ``generation`` to ``state``; return the generation and
    the length of the whole entries (a torn last entry is left out)."""
    pos = 0
    while pos < len(data):
        rest = data[pos:]

        def corrupt(detail: str, at: int = pos) -> ReferenceError:
            return ReferenceError(f"{name}: entry at byte {at}: {detail}")

        try:
            crc, length, after = _envelope(rest, JOURNAL_MAGIC)
        except _Fail as fail:
            if fail.kind == "incomplete" or not rest.strip(b"\0"):
                break
            if fail.kind == "magic":
                raise corrupt("not a journal entry (bad magic)") from None
            raise corrupt(f"malformed envelope line: {fail.detail}") from None
        if len(after) <= length:
            if b"\ndrafast-journal/v" in after or after.startswith(JOURNAL_MAGIC):
                raise corrupt(f"length {length} runs past the next entry")
            break
        payload = after[:length]
        if after[length : length + 1] != b"\n":
            raise corrupt(f"length {length} does not end the entry")
        if crc32c(payload) != crc:
            raise corrupt("checksum mismatch")
        entry = json.loads(payload)
        if entry["generation"] > generation:
            if entry["generation"] != generation + 1:
                raise corrupt(f"generation {entry['generation']} follows {generation}")
            text = payload.decode()
            members: list[tuple[str, int, int]] = []
            _walk(text, text.index('"put":') + 6, members)
            state.update((k, text[a:b].encode()) for k, a, b in members)
            for key in entry["delete"]:
                state.pop(key, None)
            generation += 1
        pos += len(rest) - len(after) + length + 1
    return generation, pos


_TEMP = re.compile(r"\.(?P<file>.+)\.tmp\.[0-9]+\.[0-9]+")


class Store:
    """The same file operations as the native store: append an entry to ``<path>.journal`` and
    fdatasync it, or (once the journal would outgrow the base image and 64 KiB) write a temp
    file, fsync, rename, fsync the directory and empty the journal."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.journal = Path(f"{path}.journal")
        self.counter = 0
        for entry in self.path.parent.iterdir():
            match = _TEMP.fullmatch(entry.name)
            if match and match["file"] == self.path.name:
                entry.unlink(missing_ok=True)
        journal = self.journal.read_bytes() if self.journal.exists() else b""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self.generation, self.state, self.base_len = 0, {}, 0
        else:
            self.generation, entries = decode(data, str(path))
            self.state, self.base_len = dict(entries), len(data)
        self.generation, whole = replay(journal, str(self.journal), self.generation, self.state)
        if whole < len(journal):
            with self.journal.open("r+b") as f:
                f.truncate(whole)
        self.journal_len = whole

    def commit(self, puts: Sequence[tuple[str, bytes]], deletes: Sequence[str]) -> int:
        if not puts and not deletes:
            return self.generation
        for key, value in puts:
            check_key(key)
            check_value(key, value)
        for key in deletes:
            check_key(key)
        changed = {k: v for k, v in puts if k not in set(deletes)}
        state = dict(self.state)
        state.update(puts)
        for key in deletes:
            state.pop(key, None)
        entry = encode_entry(self.generation + 1, changed, deletes)
        if self.journal_len + len(entry) > max(JOURNAL_MIN_LIMIT, self.base_len):
            image = encode_state(self.generation + 1, state)
            self._replace(image)
            self.base_len = len(image)
            if self.journal.exists():
                os.truncate(self.journal, 0)
            self.journal_len = 0
        else:
            fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, entry)
                os.fdatasync(fd)
            finally:
                os.close(fd)
            self.journal_len += len(entry)
        self.generation, self.state = self.generation + 1, state
        return self.generation

    def _replace(self, image: bytes) -> None:
        self.counter += 1
        temp = self.path.parent / f".{self.path.name}.tmp.{os.getpid()}.{self.counter}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, image)
            os.fsync(fd)
        finally:
            os.close(fd)
        temp.replace(self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
