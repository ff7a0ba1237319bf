"""The drivers ``drafast run`` knows, with their default names and builders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drafast.app.settings import RunOptions
from drafast.driver import KubeletDriver
from drafast.drivers.file import DEFAULT_DRIVER_NAME as FILE_DRIVER_NAME
from drafast.drivers.file import FileDriver, FileDriverSettings
from drafast.errors import ConfigError
from drafast.types import DriverName, NodeName


@dataclass(frozen=True, slots=True)
class DriverKind:
    default_name: str
    build: Callable[[RunOptions], KubeletDriver]


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
            durable_writes=durable not in (False, "false", "0", 0),
        )
    )


DRIVERS: dict[str, DriverKind] = {
    "file": DriverKind(default_name=FILE_DRIVER_NAME, build=_build_file),
}
