"""Group commit for asyncio: many concurrent submitters, one expensive flush per batch.

Imports nothing from drafast. Used by the claim checkpoint (one fsync for many claims) and by
drivers that rewrite shared files (one rewrite for many claims).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def _consume(fut: asyncio.Future[None]) -> None:
    # A submitter cancelled while waiting never reads its outcome; mark it retrieved.
    if not fut.cancelled():
        fut.exception()


class Batcher(Generic[T]):
    """``submit`` returns once a flush containing the item has finished (or raises its error).

    While a flush runs, new items queue; the next flush receives all of them in submit order.
    The flush keeps going if a submitter is cancelled: other submitters share the batch.
    """

    def __init__(self, flush: Callable[[list[T]], Awaitable[None]], name: str) -> None:
        self._flush = flush
        self._name = name
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0

    async def submit(self, item: T) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_consume)
        self._items.append(item)
        self._waiters.append(fut)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        # Not shielded: cancelling this submitter cancels only its own future, which the flush
        # then skips; the batch goes on for everyone else.
        await fut

    async def _run(self) -> None:
        # One turn of the loop first: submitters that are already runnable join the first batch
        # instead of waiting for a second flush.
        await asyncio.sleep(0)
        while self._items:
            items, waiters = self._items, self._waiters
            self._items, self._waiters = [], []
            self.flushes += 1
            try:
                await self._flush(items)
            except Exception as err:  # every submitter of this batch learns why it failed
                for w in waiters:
                    if not w.done():
                        w.set_exception(err)
            else:
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
