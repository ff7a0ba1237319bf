"""Per-claim lines in shared files, rewritten atomically and coalesced per file.

A file may serve several claims; each claim owns the lines ending in `` claim=<uid>``. Every
flush re-reads the file, replaces the lines of the claims that changed, and swaps a temp file
in its place (an atomic exchange, then the old content is unlinked; fsync and rename when
durable): a crash leaves the old or the new content, never a mix, and lines written by anyone
else are kept. The rewrite itself is native (``_native.rewrite_claim_lines``) and runs on a
Rust thread, so its file creation neither blocks the event loop nor needs the GIL. After a write,
that thread also makes the file's spare (``.<name>.drafast-tmp.spare``, empty) once the answer is
on its way: the next rewrite writes into it instead of creating a file, which on ext4 without a
journal costs up to ~1 ms after many rewrites (the inode allocator skips every recently deleted
inode). Spares are hidden and removed at start like the temp files.
"""

from __future__ import annotations

import os
from pathlib import Path

from drafast.runtime.batching import Batcher
from drafast.runtime.iojobs import IoJobs

TEMP_MARK = ".drafast-tmp."  # temp files: .<name><TEMP_MARK><pid>.<n> (see rust/lines)


class ClaimLines:
    """Serializes and coalesces the rewrites of each file."""

    def __init__(self, io: IoJobs, *, durable: bool = True) -> None:
        self.durable = durable
        self._batchers: dict[str, Batcher[tuple[str, list[str]]]] = {}
        self._jobs = io

    def _batcher(self, path: str | Path) -> Batcher[tuple[str, list[str]]]:
        name = os.fspath(path)
        b = self._batchers.get(name)
        if b is None:

            async def flush(items: list[tuple[str, list[str]]]) -> None:
                # A later change of the same claim wins (dict order: first position kept).
                await self._jobs.rewrite_lines(name, list(dict(items).items()), self.durable)

            b = self._batchers[name] = Batcher(flush, f"file-lines:{name.rsplit('/', 1)[-1]}")
        return b

    async def set_claim(self, path: str | Path, claim_uid: str, lines: list[str]) -> None:
        await self._batcher(path).submit((claim_uid, lines))

    async def drop_claim(self, path: str | Path, claim_uid: str) -> None:
        await self._batcher(path).submit((claim_uid, []))

    async def restore(self, path: str | Path, claims: dict[str, list[str]]) -> None:
        """Make ``claims`` exactly the claims in ``path`` (before serving; not batched)."""
        await self._jobs.rewrite_lines(
            os.fspath(path), list(claims.items()), self.durable, exact=True
        )
