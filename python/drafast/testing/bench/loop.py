"""An event loop in a thread of its own, for synchronous benchmark code driving async clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


class BackgroundLoop:
    """A uvloop that keeps running in its own thread between benchmark rounds, as the kubelet's
    client does: stopping and restarting a loop around every call would time grpc's wake-up,
    not the plugin."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="bench-loop", daemon=True
        )
        self._thread.start()

    def run_until_complete(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop's thread and wait for its result here."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
