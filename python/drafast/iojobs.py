"""Native disk jobs for asyncio: a :class:`drafast._native.IoWorker` behind awaitables.

The worker's Rust threads never take the GIL: a job's arguments are copied in at submit, and
its outcome waits in the worker until the event loop, woken through the worker's socket,
collects it. A Python thread hop instead costs two GIL acquisitions, each of which may wait for
a busy event loop (up to the 5 ms switch interval). Imports nothing from drafast but
``_native``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from drafast import _native


class IoJobs:
    """Submit jobs to one native worker and await their outcomes.

    The loop watches the worker's socket only while jobs are in flight, so an idle instance
    holds no loop resources and needs no closing from the loop's side.
    """

    def __init__(self, name: str, threads: int = 1) -> None:
        self.worker = _native.IoWorker(name, threads)
        self._fd = self.worker.fileno()
        self._waiting: dict[int, asyncio.Future[object]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def submit(self, submit: Callable[[_native.IoWorker], int]) -> asyncio.Future[object]:
        """Submit one job now (``submit`` calls a ``submit_*`` method); the future gets its
        outcome. Cancelling the future does not stop the job: its outcome is dropped."""
        loop = asyncio.get_running_loop()
        if not self._waiting:
            self._loop = loop
            loop.add_reader(self._fd, self._collect)
        try:
            job = submit(self.worker)
        except BaseException:
            self._stop_watching()
            raise
        fut: asyncio.Future[object] = loop.create_future()
        self._waiting[job] = fut
        return fut

    async def run(self, submit: Callable[[_native.IoWorker], int]) -> object:
        """Submit one job and return its outcome."""
        return await self.submit(submit)

    async def commit(
        self,
        checkpoint: _native.Checkpoint,
        puts: Sequence[tuple[str, bytes]],
        deletes: Sequence[str],
    ) -> int:
        """``checkpoint.commit`` on the worker; returns the new generation."""
        out = await self.run(lambda w: w.submit_commit(checkpoint, puts, deletes))
        assert isinstance(out, int)
        return out

    async def rewrite_lines(
        self,
        path: str,
        changes: Sequence[tuple[str, Sequence[str]]],
        durable: bool,
        exact: bool = False,
    ) -> bool:
        """``_native.rewrite_claim_lines`` on the worker; True if the file was written."""
        out = await self.run(lambda w: w.submit_rewrite(path, changes, durable, exact))
        assert isinstance(out, bool)
        return out

    def cdi_write(self, directory: str, file_name: str, spec: bytes) -> asyncio.Future[object]:
        """Start ``_native.cdi_write_spec``; the future gets the path written."""
        return self.submit(lambda w: w.submit_cdi_write(directory, file_name, spec))

    def _collect(self) -> None:
        for job, outcome in self.worker.finished():
            fut = self._waiting.pop(job, None)
            if fut is None or fut.done():
                continue  # its caller was cancelled
            if isinstance(outcome, BaseException):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome)
        self._stop_watching()

    def _stop_watching(self) -> None:
        if not self._waiting and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None

    def close(self) -> None:
        """Finish the queued jobs and stop the worker's threads (blocks until they are done)."""
        self.worker.close()
