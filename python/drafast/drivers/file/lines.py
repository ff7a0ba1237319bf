"""Per-claim lines in shared files, rewritten atomically and coalesced per file.

A file may serve several claims; each claim owns the lines ending in `` claim=<uid>``. Every
flush re-reads the file, replaces the lines of the claims that changed, and renames a temp file
over it (fsync first when durable): a crash leaves the old or the new content, never a mix, and
lines written by anyone else are kept.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

from drafast.batching import Batcher
from drafast.errors import DeviceError

CLAIM_MARK = " claim="
TEMP_MARK = ".drafast-tmp."
_tmp_counter = itertools.count()


def claim_of(line: str) -> str | None:
    head, sep, uid = line.rpartition(CLAIM_MARK)
    return uid if sep and head and uid and " " not in uid else None


def rewrite(
    path: Path, changes: dict[str, list[str]], durable: bool, *, exact: bool = False
) -> None:
    """Blocking: apply ``changes`` (claim UID -> its lines; [] removes them) to ``path``.

    With ``exact`` the claims in ``changes`` become the only claims in the file (restore after
    a crash): lines of any other claim go. Lines that name no claim are always kept.
    """
    try:
        with path.open("rb") as fh:  # one open: mode and content from the same file
            mode = os.fstat(fh.fileno()).st_mode
            text = fh.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        if not any(changes.values()):
            return  # only removals, and the file is gone: nothing is left to remove
        raise DeviceError(f"file {path}: does not exist (any more)") from None
    except OSError as err:
        raise DeviceError(f"file {path}: cannot read: {err.strerror or err}") from err
    old = text.splitlines()
    kept = [
        line
        for line in old
        if (uid := claim_of(line)) not in changes and not (exact and uid is not None)
    ]
    for lines in changes.values():
        kept.extend(lines)
    if kept == old:
        return  # nothing to change: no write at all
    data = "".join(line + "\n" for line in kept).encode("utf-8", "surrogateescape")
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}.{next(_tmp_counter)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o7777)
        try:
            os.write(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DeviceError(f"file {path}: cannot rewrite: {err.strerror or err}") from err


class ClaimLines:
    """Serializes and coalesces the rewrites of each file."""

    def __init__(self, durable: bool = True) -> None:
        self.durable = durable
        self._batchers: dict[Path, Batcher[tuple[str, list[str]]]] = {}

    def _batcher(self, path: Path) -> Batcher[tuple[str, list[str]]]:
        b = self._batchers.get(path)
        if b is None:

            async def flush(items: list[tuple[str, list[str]]]) -> None:
                await asyncio.to_thread(rewrite, path, dict(items), self.durable)

            b = self._batchers[path] = Batcher(flush, f"file-lines:{path.name}")
        return b

    async def set_claim(self, path: Path, claim_uid: str, lines: list[str]) -> None:
        await self._batcher(path).submit((claim_uid, lines))

    async def drop_claim(self, path: Path, claim_uid: str) -> None:
        await self._batcher(path).submit((claim_uid, []))

    async def restore(self, path: Path, claims: dict[str, list[str]]) -> None:
        """Make ``claims`` exactly the claims in ``path`` (before serving; not batched)."""
        await asyncio.to_thread(rewrite, path, claims, self.durable, exact=True)
