"""Native disk jobs for asyncio: a :class:`drafast._native.IoWorker` behind awaitables.

The worker's Rust threads never take the GIL: a job's arguments are copied in at submit, and
its outcome waits in the worker until the event loop, woken through the worker's socket,
collects it. A Python thread hop instead costs two GIL acquisitions, each of which may wait for
a busy event loop (up to the 5 ms switch interval). Imports nothing from drafast but
``_native``.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Sequence

from drafast import _native

PROCESS_THREADS = 3  # a commit's fsync and driver file rewrites (several files) in flight at once


class IoJobs:
    """Submit jobs to one native worker and await their outcomes.

    Every event loop that submits watches the worker's socket; one wake-up collects every
    outcome that is ready, and an outcome for another loop's job is handed to that loop
    thread-safely. ``drafast.app`` builds one per process and hands it to every component, so
    the outcomes of a claim's checkpoint commit and file rewrites often arrive with one wake-up.
    """

    def __init__(self, name: str, threads: int = 1) -> None:
        self.worker = _native.IoWorker(name, threads)
        self._fd = self.worker.fileno()
        # Guards _waiting: loops in other threads may submit and collect too.
        self._lock = threading.Lock()
        self._waiting: dict[int, asyncio.Future[object]] = {}
        self._watching: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()

    def submit(self, submit: Callable[[_native.IoWorker], int]) -> asyncio.Future[object]:
        """Submit one job now (``submit`` calls a ``submit_*`` method); the future gets its
        outcome. Cancelling the future does not stop the job: its outcome is dropped."""
        loop = asyncio.get_running_loop()
        if loop not in self._watching:
            loop.add_reader(self._fd, self._collect)
            self._watching.add(loop)
        fut: asyncio.Future[object] = loop.create_future()
        with self._lock:  # no collector may see the outcome before the future is known
            self._waiting[submit(self.worker)] = fut
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
        spare: bool = True,
    ) -> bool:
        """``_native.rewrite_claim_lines`` on the worker; True if the file was written. Then,
        unless ``spare`` is false, the worker makes the file's spare for its next rewrite."""
        out = await self.run(lambda w: w.submit_rewrite(path, changes, durable, exact, spare))
        assert isinstance(out, bool)
        return out

    def _collect(self) -> None:
        with self._lock:
            ready = [(self._waiting.pop(job, None), out) for job, out in self.worker.finished()]
        here = asyncio.get_running_loop()
        for fut, outcome in ready:
            if fut is None:
                continue
            owner = fut.get_loop()
            if owner is here:
                _settle(fut, outcome)
            elif not owner.is_closed():
                owner.call_soon_threadsafe(_settle, fut, outcome)

    def close(self) -> None:
        """Finish the queued jobs and stop the worker's threads (blocks until they are done)."""
        for loop in list(self._watching):
            if not loop.is_closed():
                loop.remove_reader(self._fd)
        self._watching.clear()
        self.worker.close()


def _settle(fut: asyncio.Future[object], outcome: object) -> None:
    if fut.done():
        return  # its caller was cancelled
    if isinstance(outcome, BaseException):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)
