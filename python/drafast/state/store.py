"""The claim store: reads from memory, writes group-committed to the native checkpoint."""

from __future__ import annotations

from pathlib import Path

from drafast import _native
from drafast.batching import Batcher
from drafast.iojobs import IoJobs
from drafast.state.codec import ClaimRecord, decode_record, encode_record
from drafast.types import ClaimUID

CHECKPOINT_FILE = "checkpoint.json"

# (claim UID, encoded record) to store, or (claim UID, None) to delete.
_Change = tuple[str, bytes | None]


class ClaimStore:
    """Prepared claims, durable before ``put``/``delete`` return.

    Concurrent writers are group-committed: while one durable write (fsync of file and directory)
    runs in a worker thread, later changes queue up and all go out in the next single write. A
    change is visible to ``get`` only once it is durable. Opening a corrupted checkpoint raises
    :class:`drafast.errors.CheckpointError` naming the file: the plugin must not start on it.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / CHECKPOINT_FILE
        self._ckpt = _native.Checkpoint(str(self.path))
        self._jobs = IoJobs("checkpoint")
        self._batcher: Batcher[_Change] = Batcher(self._write, "checkpoint-group-commit")

    @property
    def commits(self) -> int:
        """Durable writes made so far (one per group commit)."""
        return self._ckpt.commits

    def __len__(self) -> int:
        return len(self._ckpt)

    def __contains__(self, uid: object) -> bool:
        return uid in self._ckpt

    def uids(self) -> list[ClaimUID]:
        return [ClaimUID(k) for k in self._ckpt.keys()]  # noqa: SIM118 (a native method)

    def get(self, uid: str) -> ClaimRecord | None:
        raw = self._ckpt.get(uid)
        return None if raw is None else decode_record(raw, f"{self.path} [{uid}]")

    def records(self) -> list[ClaimRecord]:
        return [decode_record(raw, f"{self.path} [{uid}]") for uid, raw in self._ckpt.items()]

    async def put(self, record: ClaimRecord) -> None:
        await self._batcher.submit((record.ref.uid, encode_record(record)))

    async def delete(self, uid: str) -> None:
        if uid in self._ckpt:
            await self._batcher.submit((uid, None))

    async def _write(self, changes: list[_Change]) -> None:
        latest = dict(changes)  # later changes to the same claim win
        puts = [(k, v) for k, v in latest.items() if v is not None]
        deletes = [k for k, v in latest.items() if v is None]
        # fsync takes ~1 ms: off the event loop so new calls keep joining the next batch.
        await self._jobs.commit(self._ckpt, puts, deletes)
