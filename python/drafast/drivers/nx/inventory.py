"""What the node offers: the native probe's records turned into accelerators to publish.

PowerVM LPAR: one accelerator ``nx-gzip`` (the hardware is visible once per partition), with the
``nx_gzip_caps`` values as attributes and the partition's default VAS credits as capacity.
PowerNV: one accelerator per NX unit, ``nx-gzip-chip<id>``; every unit is reached through the
same ``/dev/crypto/nx-gzip`` node, the chip id tells the workload which one it was given.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from drafast import _native
from drafast.types import AttributeValue, Capacity, Device, DeviceName, RequestPolicy, ValidRange

DEVICE_PATH = "/dev/crypto/nx-gzip"
"""Where the accelerator's character device is, on the host and in the container."""
CREDITS = "credits"
"""The capacity a claim consumes in shared mode: one credit per VAS window it may open."""
DEFAULT_SHARES = 16
"""Credits published in shared mode when neither the probe nor a setting gives a number."""


class Sharing(enum.StrEnum):
    EXCLUSIVE = "exclusive"
    """One claim at a time per accelerator (the default, like the peer driver)."""
    SHARED = "shared"
    """Many claims per accelerator (``allowMultipleAllocations``), each consuming credits."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Accelerator:
    name: DeviceName
    platform: str
    major: int
    minor: int
    chip_id: int | None = None
    credits: int | None = None
    """Credits to publish as capacity (None: unknown and not needed in exclusive mode)."""
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)

    def device(self, sharing: Sharing) -> Device:
        """The published device: attributes, capacity, and in shared mode the request policy."""
        capacity: dict[str, Capacity] = {}
        if self.credits is not None:
            policy = None
            if sharing is Sharing.SHARED:
                top = str(self.credits)
                policy = RequestPolicy(
                    default="1", valid_range=ValidRange(min="1", max=top, step="1")
                )
            capacity[CREDITS] = Capacity(value=str(self.credits), request_policy=policy)
        return Device(
            name=self.name,
            attributes=dict(self.attributes) | {"sharing": str(sharing)},
            capacity=capacity,
            allow_multiple_allocations=sharing is Sharing.SHARED,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    accelerators: Mapping[DeviceName, Accelerator]
    reason: str
    """Why there is nothing to publish (empty when there is something)."""


def _credits(probed: int | None, sharing: Sharing, max_shares: int | None) -> int | None:
    known = [n for n in (probed, max_shares) if n is not None]
    if known:
        return min(known)
    return DEFAULT_SHARES if sharing is Sharing.SHARED else None


def inventory(probe: _native.NxProbe, sharing: Sharing, max_shares: int | None) -> Inventory:
    """The accelerators a probe result makes publishable (none, with a reason, if unusable)."""
    dev = probe.char_device
    if not probe.usable or dev is None:
        return Inventory(accelerators={}, reason=probe.reason)
    common: dict[str, AttributeValue] = {"platform": probe.platform}
    found: list[Accelerator] = []
    if probe.vio is not None:
        caps = probe.vio
        total = caps.default_credits_total
        if total == 0:
            return Inventory(
                accelerators={},
                reason=f"NX-gzip accelerator found (powervm) but the partition has no VAS "
                f"credits ({caps.path}: default nr_total_credits is 0)",
            )
        attrs = common | {"compatible": "ibm,compression-v1"}
        for key, value in (
            ("reqMaxProcessedLen", caps.req_max_processed_len),
            ("minCompressLen", caps.min_compress_len),
            ("minDecompressLen", caps.min_decompress_len),
            ("qosCredits", caps.qos_credits_total),
        ):
            if value is not None and value < 2**63:  # int attributes are int64
                attrs[key] = value
        found.append(
            Accelerator(
                name=DeviceName("nx-gzip"),
                platform=probe.platform,
                major=dev.major,
                minor=dev.minor,
                credits=_credits(total, sharing, max_shares),
                attributes=attrs,
            )
        )
    else:
        for engine in probe.engines:
            found.append(
                Accelerator(
                    name=DeviceName(f"nx-gzip-chip{engine.chip_id}"),
                    platform=probe.platform,
                    major=dev.major,
                    minor=dev.minor,
                    chip_id=engine.chip_id,
                    credits=_credits(None, sharing, max_shares),
                    attributes=common
                    | {
                        "compatible": engine.compatible,
                        "generation": engine.generation,
                        "chipID": engine.chip_id,
                    },
                )
            )
    return Inventory(accelerators={a.name: a for a in found}, reason="")


async def probe_host(host_root: Path) -> _native.NxProbe:
    """Run the native probe off the event loop (it reads sysfs and may walk a large tree)."""
    return await asyncio.to_thread(_native.nx_probe, str(host_root))
