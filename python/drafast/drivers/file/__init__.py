"""The file driver: every regular file in a directory is a device; prepare writes the consuming
pods into the file and bind-mounts it read-only into the containers.

Imports the contracts (drafast.driver, drafast.types, drafast.config, drafast.errors) and
drafast.runtime; never another driver, the plugin core, drafast.state or an edge.
"""

from __future__ import annotations

from drafast.driver import DriverContext, DriverKind
from drafast.drivers.file.driver import DEFAULT_DRIVER_NAME, FileDriver
from drafast.drivers.file.settings import FileDriverSettings
from drafast.errors import ConfigError


def build(settings: FileDriverSettings, ctx: DriverContext) -> FileDriver:
    if ctx.node_name is None:
        raise ConfigError("the file driver runs only as a node plugin (--role node)")
    return FileDriver(settings, node_name=ctx.node_name, io=ctx.io, driver_name=ctx.driver_name)


KIND = DriverKind(
    name="file",
    default_driver_name=DEFAULT_DRIVER_NAME,
    settings=FileDriverSettings,
    build=build,
    description="files as devices; prepare writes the consuming pods into the file",
)

__all__ = ["DEFAULT_DRIVER_NAME", "KIND", "FileDriver", "FileDriverSettings"]
