"""Starting and stopping a role's components in one task group, and the process around it:
signals (a second SIGTERM exits at once) and a watchdog that bounds shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator, Sequence

from drafast.app.components import Component, Looping

log = logging.getLogger(__name__)

WATCHDOG_MARGIN_SECONDS = 10.0
"""Shutdown may take the grace period plus this before the watchdog ends the process."""


@contextlib.asynccontextmanager
async def running(components: Sequence[Component]) -> AsyncIterator[None]:
    """Start ``components`` in order (their loops as named tasks), yield, then cancel the loops
    and stop the started components in reverse order. A failed start stops what had started
    (sockets and files removed) and re-raises; a loop that fails ends the block early and
    its error is raised from here."""
    started: list[Component] = []
    try:
        with _one_error():
            async with asyncio.TaskGroup() as tg:
                loops: list[asyncio.Task[None]] = []
                try:
                    for c in components:
                        await c.start()
                        started.append(c)
                        if isinstance(c, Looping):
                            loops.append(tg.create_task(c.run(), name=c.name))
                    yield
                finally:
                    for task in loops:
                        task.cancel()
    finally:
        for c in reversed(started):
            try:
                await c.stop()
            except Exception as err:  # keep stopping the rest; say what did not stop cleanly
                log.error("stopping failed", extra={"component": c.name, "error": str(err)})


@contextlib.contextmanager
def _one_error() -> Iterator[None]:
    """A task group wraps even a single error in a group; callers want the error itself."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


def first_error(err: BaseException) -> BaseException:
    """The first leaf of an exception group (what a failed loop raised)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


class SignalStop:
    """The first SIGTERM/SIGINT sets :attr:`event` and arms the watchdog; the second exits at
    once (the kubelet or the operator insists)."""

    def __init__(self, grace_seconds: float) -> None:
        self.event = asyncio.Event()
        self._limit = grace_seconds + WATCHDOG_MARGIN_SECONDS
        self._watchdog: threading.Timer | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._received, sig)

    def _received(self, sig: signal.Signals) -> None:
        if self.event.is_set():
            log.warning("second signal: exiting now", extra={"signal": sig.name})
            os._exit(128 + sig)
        log.info("signal received, shutting down", extra={"signal": sig.name})
        self.event.set()
        # A thread, not the loop: it must fire even if the loop is stuck.
        self._watchdog = threading.Timer(self._limit, self._expired)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _expired(self) -> None:
        log.error("shutdown took too long: exiting", extra={"seconds": self._limit})
        os._exit(1)

    def disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
