"""The file driver: files in ``resource_dir`` published as devices of this node's pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Awaitable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from drafast.drivers.file.lines import TEMP_MARK, ClaimLines
from drafast.drivers.file.naming import device_name_for
from drafast.drivers.file.settings import FileDriverSettings
from drafast.drivers.file.state import FileClaimState
from drafast.errors import ConfigError, DeviceError
from drafast.runtime.iojobs import IoJobs
from drafast.types import (
    ClaimRef,
    ContainerEdits,
    Device,
    DeviceHealth,
    DeviceName,
    DriverName,
    DriverResources,
    Health,
    Mount,
    NodeName,
    Pool,
    PoolName,
    PreparedClaim,
    PreparedDevice,
    Slice,
)

if TYPE_CHECKING:  # annotations only: drafast.types loads it with the first prepare
    from drafast.types import Claim

log = logging.getLogger(__name__)

DEFAULT_DRIVER_NAME = DriverName("file.drafast.dev")
MAX_ATTRIBUTE_LENGTH = 64  # resource.k8s.io limit for string attribute values


def env_name(device: str) -> str:
    """``DRAFAST_FILE_<DEVICE>``: the device name upper-cased, ``-`` -> ``_``."""
    return "DRAFAST_FILE_" + device.upper().replace("-", "_")


def _remove_stale_temp_files(resource_dir: Path) -> None:
    """Blocking: temp files left by a writer killed mid-rewrite (the file itself is intact)."""
    for entry in resource_dir.glob(f".*{TEMP_MARK}*"):
        entry.unlink(missing_ok=True)
        log.info("removed stale temp file", extra={"file": str(entry)})


def _scan(resource_dir: Path) -> dict[DeviceName, Path]:
    """Blocking: regular files (not hidden, not our temp files) by device name."""
    try:
        entries = list(os.scandir(resource_dir))
    except OSError as err:
        raise DeviceError(
            f"resource dir {resource_dir}: cannot list: {err.strerror or err}"
        ) from err
    found: dict[DeviceName, Path] = {}
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        name = DeviceName(device_name_for(entry.name))
        if name in found:
            log.error(
                "two files map to one device name; skipping the second",
                extra={"device": name, "file": entry.path, "first": str(found[name])},
            )
            continue
        found[name] = Path(entry.path)
    return found


class FileDriver:
    """Implements :class:`drafast.driver.KubeletDriver`, :class:`drafast.driver.HealthSource`,
    :class:`drafast.driver.RestoringDriver` and :class:`drafast.driver.StagedDriver`."""

    cdi_class = "file"

    def __init__(
        self,
        settings: FileDriverSettings,
        *,
        node_name: NodeName,
        io: IoJobs,
        driver_name: DriverName = DEFAULT_DRIVER_NAME,
    ) -> None:
        self.settings = settings
        self.node_name = node_name
        self.driver_name = driver_name
        self.pool = PoolName(node_name)
        self._files: dict[DeviceName, Path] = {}
        self._lines = ClaimLines(io, durable=settings.durable_writes)
        self._started = False

    @property
    def name(self) -> DriverName:
        return self.driver_name

    # ------------------------------------------------------------------ publishing

    def _device(self, name: DeviceName, path: Path) -> Device:
        attrs: dict[str, str] = {"type": "file"}
        for key, value in (("filename", path.name), ("path", str(path))):
            if len(value) <= MAX_ATTRIBUTE_LENGTH:
                attrs[key] = value
            else:  # the API server rejects longer strings; the device stays usable
                log.warning(
                    "attribute too long to publish",
                    extra={"device": name, "attribute": key, "length": len(value)},
                )
        return Device(
            name=name, attributes=attrs, allow_multiple_allocations=self.settings.shared_files
        )

    async def discover(self) -> DriverResources:
        if not self._started:  # first scan of this process: nothing of ours is in flight yet
            self._started = True
            await asyncio.to_thread(_remove_stale_temp_files, self.settings.resource_dir)
        self._files = await asyncio.to_thread(_scan, self.settings.resource_dir)
        devices = tuple(self._device(n, p) for n, p in self._files.items())
        pool = Pool(slices=(Slice(devices=devices),), node_name=self.node_name)
        return DriverResources(pools={self.pool: pool})

    async def health(self) -> Sequence[DeviceHealth]:
        def check() -> list[DeviceHealth]:
            out = []
            for name, path in self._files.items():
                try:
                    ok = stat.S_ISREG(path.stat().st_mode) and os.access(path, os.R_OK | os.W_OK)
                    msg = "" if ok else f"{path} is not a readable and writable regular file"
                except OSError as err:
                    ok, msg = False, f"{path}: {err.strerror or err}"
                out.append(
                    DeviceHealth(
                        pool=self.pool,
                        device=name,
                        health=Health.HEALTHY if ok else Health.UNHEALTHY,
                        message=msg,
                    )
                )
            return out

        return await asyncio.to_thread(check)

    # ------------------------------------------------------------------ prepare / unprepare

    async def _path_of(self, claim: Claim, device: DeviceName, pool: PoolName) -> Path:
        if pool != self.pool:
            raise DeviceError(f"{claim.ref}: device {pool}/{device} is not in this node's pool")
        if device not in self._files:  # a file added since the last scan
            self._files = await asyncio.to_thread(_scan, self.settings.resource_dir)
        path = self._files.get(device)
        if path is None:
            raise DeviceError(
                f"{claim.ref}: device {device} has no file in {self.settings.resource_dir}"
            )
        return path

    async def plan(self, claim: Claim) -> PreparedClaim:
        """The claim's mounts and lines; the files are not touched (``apply`` writes them)."""
        if claim.configs:
            raise ConfigError(f"{claim.ref}: the file driver takes no opaque configuration")
        ns = claim.ref.namespace
        lines = [
            f"{ns}/{c.name} claim={claim.ref.uid}"
            for c in claim.reserved_for
            if c.resource == "pods"
        ]
        devices: list[PreparedDevice] = []
        paths: list[str] = []
        for alloc in claim.devices:
            path = str(await self._path_of(claim, alloc.device, alloc.pool))
            if path not in paths:
                paths.append(path)
            mount = Mount(host_path=path, container_path=path, options=("ro", "bind"))
            # The path in the env too: a container can find its file without knowing the name.
            env = (f"{env_name(alloc.device)}={path}",)
            devices.append(
                PreparedDevice(
                    requests=(alloc.request,),
                    pool=alloc.pool,
                    device=alloc.device,
                    edits=ContainerEdits(env=env, mounts=(mount,)),
                    share_id=alloc.share_id,
                )
            )
        state = FileClaimState(files=tuple(paths), lines=tuple(lines))
        return PreparedClaim(devices=tuple(devices), state=state.to_json())

    async def apply(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        """Write the claim's lines into its files (no change, no write). A failure may leave
        some files written: the caller unprepares."""
        state = FileClaimState.from_json(prepared.state)
        lines = list(state.lines)
        await _each(self._lines.set_claim(p, ref.uid, lines) for p in state.files)

    async def prepare(self, claim: Claim) -> PreparedClaim:
        prepared = await self.plan(claim)
        try:
            await self.apply(claim.ref, prepared)
        except BaseException:
            # Not checkpointed, so no unprepare will come: take back what was written.
            with contextlib.suppress(Exception):
                await self.unprepare(claim.ref, prepared)
            raise
        return prepared

    async def restore(self, prepared: Sequence[tuple[ClaimRef, PreparedClaim]]) -> None:
        """Make every file hold exactly the lines of the checkpointed claims: repairs what a
        power loss (non-durable rewrite) or a crash between rewrite and checkpoint left."""
        wanted: dict[Path, dict[str, list[str]]] = {}
        if not self._files:
            try:
                self._files = await asyncio.to_thread(_scan, self.settings.resource_dir)
            except DeviceError as err:
                log.error("cannot restore file contents", extra={"error": str(err)})
        for path in self._files.values():
            wanted[path] = {}
        for ref, claim in prepared:
            state = FileClaimState.from_json(claim.state)
            for f in state.files:
                wanted.setdefault(Path(f), {})[ref.uid] = list(state.lines)
        for path, claims in wanted.items():
            try:
                await self._lines.restore(path, claims)
            except DeviceError as err:  # a vanished file: its claims fail at unprepare-time
                log.error("cannot restore file contents", extra={"error": str(err)})

    async def unprepare(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        files = FileClaimState.from_json(prepared.state).files
        await _each(self._lines.drop_claim(f, ref.uid) for f in files)


async def _each(aws: Iterable[Awaitable[None]]) -> None:
    """Await all, concurrently; a single one (the usual case) without gather's extra task."""
    items = list(aws)
    if len(items) == 1:
        await items[0]
    elif items:
        await asyncio.gather(*items)
