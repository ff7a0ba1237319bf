"""Small, synchronous reads of sysfs files under a host root, each failure naming the file.

sysfs attributes are a few bytes each and never block on I/O, so these are plain reads; the
driver runs a whole :func:`~drafast.drivers.cpu.topology.read_topology` in a thread. ``None``
means "the file is not there" (the caller decides whether that is a fallback or an error);
anything present but unreadable or malformed is a :class:`TopologyError` whose message starts
with the file's path.
"""

from __future__ import annotations

import json
from pathlib import Path

from drafast.drivers.cpu.cpulist import parse_cpulist
from drafast.errors import CpuListError, TopologyError

__all__ = ["Sysfs"]


class Sysfs:
    """The ``sys`` directory of a host root: ``Sysfs(Path("/host")).path("devices/...")``."""

    __slots__ = ("root",)

    def __init__(self, host_root: Path) -> None:
        self.root = host_root / "sys"

    def path(self, rel: str) -> Path:
        return self.root / rel

    def text(self, rel: str) -> str | None:
        """The file's content without surrounding blanks; ``None`` when it does not exist."""
        p = self.path(rel)
        try:
            return p.read_text(encoding="ascii").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except UnicodeDecodeError as err:
            raise TopologyError(f"{p}: not ASCII text") from err
        except OSError as err:
            raise TopologyError(f"{p}: cannot read: {err.strerror or err}") from err

    def integer(self, rel: str) -> int | None:
        """A decimal integer file (``core_id``, ``level``, ...); ``None`` when missing."""
        text = self.text(rel)
        if text is None:
            return None
        try:
            return int(text, 10)
        except ValueError:
            # JSON quoting keeps the message one line whatever the file holds
            raise TopologyError(f"{self.path(rel)}: {json.dumps(text)} is not an integer") from None

    def cpulist(self, rel: str) -> frozenset[int] | None:
        """A cpulist file (``online``, ``cpulist``, ``shared_cpu_list``); ``None`` when missing."""
        text = self.text(rel)
        if text is None:
            return None
        try:
            return parse_cpulist(text)
        except CpuListError as err:
            raise TopologyError(f"{self.path(rel)}: {err}") from err

    def entries(self, rel: str) -> list[str] | None:
        """Names in a directory, sorted; ``None`` when the directory does not exist."""
        p = self.path(rel)
        try:
            return sorted(entry.name for entry in p.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            raise TopologyError(f"{p}: cannot list: {err.strerror or err}") from err
