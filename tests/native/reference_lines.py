"""Pure-Python reference for ``_native.rewrite_claim_lines`` (rust/lines)."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Sequence
from pathlib import Path

from drafast.errors import DeviceError

CLAIM_MARK = b" claim="
TEMP_MARK = ".drafast-tmp."
_counter = itertools.count()


def claim_of(line: bytes) -> bytes | None:
    head, sep, uid = line.rpartition(CLAIM_MARK)
    return uid if sep and head and uid and b" " not in uid else None


def split_lines(data: bytes) -> list[bytes]:
    if not data:
        return []
    return data.removesuffix(b"\n").split(b"\n")


def rewrite(
    path: Path, changes: Sequence[tuple[str, Sequence[str]]], durable: bool, exact: bool = False
) -> bool:
    try:
        with path.open("rb") as fh:  # one open: mode and content from the same file
            mode = os.fstat(fh.fileno()).st_mode & 0o7777
            data = fh.read()
    except FileNotFoundError:
        if not any(lines for _, lines in changes):
            return False
        raise DeviceError(f"file {path}: does not exist (any more)") from None
    except OSError as err:
        raise DeviceError(f"file {path}: cannot read: {err.strerror or err}") from err
    changed = {uid.encode() for uid, _ in changes}
    old = split_lines(data)
    kept = [
        line
        for line in old
        if (uid := claim_of(line)) is None or (uid not in changed and not exact)
    ]
    for _, lines in changes:
        kept.extend(line.encode() for line in lines)
    if kept == old:
        return False
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}.{next(_counter)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, b"".join(line + b"\n" for line in kept))
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except OSError as err:
        with contextlib.suppress(OSError):  # best effort, like the native code
            tmp.unlink()
        raise DeviceError(f"file {path}: cannot rewrite: {err.strerror or err}") from err
    return True
