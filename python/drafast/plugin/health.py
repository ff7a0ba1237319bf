"""The latest device health, shared by every health stream the kubelet opens."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from drafast.types import DeviceHealth


class HealthBoard:
    """Holds the complete device-health list; wakes waiting streams when it changes.

    ``update`` is synchronous and cheap; streams call ``wait_changed`` with their resend period
    and send the snapshot whether it changed or the period elapsed.
    """

    def __init__(self) -> None:
        self._devices: tuple[DeviceHealth, ...] = ()
        self._version = 0
        self._changed = asyncio.Condition()

    @property
    def version(self) -> int:
        return self._version

    def snapshot(self) -> tuple[DeviceHealth, ...]:
        return self._devices

    async def update(self, devices: Sequence[DeviceHealth]) -> bool:
        """Replace the list; returns True (and wakes streams) only if anything differs."""
        new = tuple(sorted(devices, key=lambda d: (d.pool, d.device)))
        if new == self._devices:
            return False
        self._devices = new
        self._version += 1
        async with self._changed:
            self._changed.notify_all()
        return True

    async def wait_changed(self, seen_version: int, period: float) -> bool:
        """Wait until the version moves past ``seen_version`` or ``period`` seconds pass."""
        if self._version != seen_version:
            return True
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._version != seen_version), period
                )
            except TimeoutError:
                return False
        return True
