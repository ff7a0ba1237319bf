"""A watch of allocated claims, collected in a task: shared by the API-server and dir-store
port tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from drafast.driver import AllocatedClaims
from drafast.types import Claim


class Yields:
    """Collects what a watch yields, in a task."""

    def __init__(self, claims: AllocatedClaims) -> None:
        self.sets: list[Sequence[Claim]] = []
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._run(claims), name="test-allocated")

    async def _run(self, claims: AllocatedClaims) -> None:
        async for claim_set in claims.watch():
            self.sets.append(claim_set)
            self._new.set()

    async def nth(self, n: int, within: float = 5.0) -> list[str]:
        """Names (ns/name) in the ``n``-th set yielded (1-based), once it is there."""
        async with asyncio.timeout(within):
            while len(self.sets) < n:
                self._new.clear()
                await self._new.wait()
        return [f"{c.ref.namespace}/{c.ref.name}" for c in self.sets[n - 1]]

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
