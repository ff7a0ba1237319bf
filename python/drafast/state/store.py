"""The claim store: reads from memory, writes group-committed to the native checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

from drafast import _native
from drafast.runtime.batching import Batcher
from drafast.runtime.iojobs import IoJobs
from drafast.runtime.metrics import Metrics
from drafast.state.codec import ClaimRecord, decode_record, encode_record
from drafast.types import ClaimUID

CHECKPOINT_FILE = "checkpoint.json"

# (claim UID, encoded record, record) to store, or (claim UID, None, None) to delete.
_Change = tuple[str, bytes | None, ClaimRecord | None]


class ClaimStore:
    """Prepared claims, durable before ``put``/``delete`` return.

    Concurrent writers are group-committed: while one durable write (an entry appended to the
    checkpoint's journal and fdatasynced, or now and then a compaction that rewrites the whole
    file) runs on a native I/O thread, later changes queue up and all go out in the next single
    write. A change is visible to ``get`` only once it is durable. Opening a corrupted checkpoint
    raises :class:`drafast.errors.CheckpointError` naming the file: the plugin must not start on
    it.
    """

    def __init__(self, state_dir: Path, *, io: IoJobs, metrics: Metrics | None = None) -> None:
        self.path = state_dir / CHECKPOINT_FILE
        self._metrics = metrics
        self._ckpt = _native.Checkpoint(str(self.path))
        self._jobs = io
        # Decoded records, a subset of the durable ones (decoding costs ~50 us per read).
        self._decoded: dict[str, ClaimRecord] = {}
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
        record = self._decoded.get(uid)
        if record is None:
            raw = self._ckpt.get(uid)
            if raw is None:
                return None
            record = self._decoded[uid] = decode_record(raw, f"{self.path} [{uid}]")
        return record

    def records(self) -> list[ClaimRecord]:
        return [decode_record(raw, f"{self.path} [{uid}]") for uid, raw in self._ckpt.items()]

    async def put(self, record: ClaimRecord) -> None:
        await self._batcher.submit((record.ref.uid, encode_record(record), record))

    async def delete(self, uid: str) -> None:
        if uid in self._ckpt:
            await self._batcher.submit((uid, None, None))

    async def _write(self, changes: list[_Change]) -> None:
        latest = {uid: (raw, record) for uid, raw, record in changes}  # later changes win
        puts = [(k, raw) for k, (raw, _) in latest.items() if raw is not None]
        deletes = [k for k, (raw, _) in latest.items() if raw is None]
        # fdatasync takes 0.1-1 ms: off the event loop so new calls keep joining the next batch.
        started = time.perf_counter()
        await self._jobs.commit(self._ckpt, puts, deletes)
        if self._metrics is not None:
            self._metrics.checkpoint_commit(time.perf_counter() - started, len(latest))
        for uid, (_, record) in latest.items():  # durable now: visible to get()
            if record is None:
                self._decoded.pop(uid, None)
            else:
                self._decoded[uid] = record
