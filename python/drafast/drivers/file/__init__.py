"""The file driver: every regular file in a directory is a device; prepare writes the consuming
pods into the file and bind-mounts it read-only into the containers."""

from drafast.drivers.file.driver import DEFAULT_DRIVER_NAME, FileDriver, FileDriverSettings

__all__ = ["DEFAULT_DRIVER_NAME", "FileDriver", "FileDriverSettings"]
