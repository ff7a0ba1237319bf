"""The drivers ``drafast run`` knows, with their default names and builders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drafast.app.settings import RunOptions
from drafast.driver import KubeletDriver
from drafast.drivers.file import DEFAULT_DRIVER_NAME as FILE_DRIVER_NAME
from drafast.drivers.file import FileDriver, FileDriverSettings
from drafast.drivers.nx import DEFAULT_DRIVER_NAME as NX_DRIVER_NAME
from drafast.drivers.nx import NxDriver, NxDriverSettings, Sharing
from drafast.errors import ConfigError
from drafast.types import DriverName, NodeName


@dataclass(frozen=True, slots=True)
class DriverKind:
    default_name: str
    build: Callable[[RunOptions], KubeletDriver]


def _flag(value: object) -> bool:
    """A boolean setting from a flag (bool), the env or the YAML file (str/bool/int)."""
    return value not in (False, None, "", "false", "False", "0", 0)


def _build_file(opts: RunOptions) -> KubeletDriver:
    resource_dir = opts.driver_options.get("resource_dir")
    if not resource_dir:
        raise ConfigError("the file driver needs --resource-dir (or RESOURCE_DIR)")
    durable = opts.driver_options.get("durable_writes", False)
    return FileDriver(
        FileDriverSettings(
            driver_name=DriverName(opts.driver_name),
            node_name=NodeName(opts.node_name),
            resource_dir=Path(resource_dir).absolute(),
            durable_writes=_flag(durable),
            shared=_flag(opts.driver_options.get("shared_files", False)),
        )
    )


def _build_nx(opts: RunOptions) -> KubeletDriver:
    o = opts.driver_options
    sharing = str(o.get("nx_sharing") or Sharing.EXCLUSIVE)
    if sharing not in tuple(Sharing):
        raise ConfigError(f"--nx-sharing {sharing!r}: expected exclusive or shared")
    max_shares = o.get("nx_max_shares")
    if max_shares is not None:
        try:
            max_shares = int(max_shares)
        except (TypeError, ValueError):
            raise ConfigError(f"--nx-max-shares {max_shares!r}: expected an integer") from None
        if max_shares < 1:
            raise ConfigError(f"--nx-max-shares {max_shares}: must be at least 1")
    host_root = Path(o.get("host_root") or "/").absolute()
    if not host_root.is_dir():
        raise ConfigError(f"--host-root {host_root}: not a directory")
    return NxDriver(
        NxDriverSettings(
            driver_name=DriverName(opts.driver_name),
            node_name=NodeName(opts.node_name),
            host_root=host_root,
            sharing=Sharing(sharing),
            max_shares=max_shares,
            state_dir=opts.plugin_dir,  # the checkpoint: holds survive a restart
        )
    )


DRIVERS: dict[str, DriverKind] = {
    "file": DriverKind(default_name=FILE_DRIVER_NAME, build=_build_file),
    "nx": DriverKind(default_name=NX_DRIVER_NAME, build=_build_nx),
}
