"""The file driver's settings: one field per flag, env var and YAML key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drafast.config import a_directory, setting


@dataclass(frozen=True, slots=True, kw_only=True)
class FileDriverSettings:
    resource_dir: Path = setting(
        flag="--resource-dir",
        env="RESOURCE_DIR",
        help="directory whose regular files are the devices",
        check=a_directory,
    )
    durable_writes: bool = setting(
        False,
        flag="--durable-writes",
        env="DURABLE_WRITES",
        help="fsync every rewritten file (restore from the checkpoint covers power loss anyway)",
    )
    """Off by default: the rename alone keeps a file whole across a process crash, and after a
    power loss :meth:`FileDriver.restore` rewrites every file from the claim checkpoint."""
    shared_files: bool = setting(
        False,
        flag="--shared-files",
        env="SHARED_FILES",
        help="let separate claims share a file (allowMultipleAllocations)",
    )
    """Publish files as multi-allocatable devices, each allocation with its own share ID."""
