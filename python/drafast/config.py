"""Settings objects handed to components through their constructors, and :func:`setting`, the
field helper that describes a user-facing setting once.

Frozen, documented, with defaults. They are *built* only in :mod:`drafast.app` (from flags, env
and an optional YAML file, all derived from the :func:`setting` metadata); every other module
just receives them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drafast.types import DriverName

KUBELET_PLUGINS_DIR = Path("/var/lib/kubelet/plugins")
KUBELET_REGISTRY_DIR = Path("/var/lib/kubelet/plugins_registry")
CDI_DIR = Path("/var/run/cdi")

SETTING = "drafast.setting"
"""Key of a field's metadata that holds its :class:`SettingInfo`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingInfo:
    """How one settings field meets the user: ``--flag``, ``ENV`` and YAML key (the field
    name, ``-`` or ``_``), help text, and an optional check of the typed value."""

    flag: str
    env: str | None
    help: str
    metavar: str | None = None
    check: Callable[[Any], str | None] | None = None
    """Returns why the value is invalid (None: fine), e.g. ``"must be more than 0"``."""
    file_key: str | None = None
    """Another spelling the config file may use (a peer driver's key, e.g. ``reservedCPUs``)."""


def setting(
    default: Any = dataclasses.MISSING,
    *,
    flag: str,
    env: str | None,
    help: str,
    metavar: str | None = None,
    check: Callable[[Any], str | None] | None = None,
    file_key: str | None = None,
) -> Any:
    """A dataclass field that is a user-facing setting; ``drafast.app`` derives the argparse
    option, the environment variable and the YAML key from it, and converts and checks values
    once. The field's type annotation (``bool``, ``int``, ``float``, ``str``, ``Path``, a
    ``StrEnum``, or ``X | None``) decides the conversion."""
    info = SettingInfo(
        flag=flag, env=env, help=help, metavar=metavar, check=check, file_key=file_key
    )
    return dataclasses.field(default=default, metadata={SETTING: info})


def positive(value: float | None) -> str | None:
    """A :func:`setting` check: more than zero (None passes)."""
    return None if value is None or value > 0 else "must be more than 0"


def a_directory(path: Path | None) -> str | None:
    """A :func:`setting` check: an existing directory (None passes)."""
    return None if path is None or path.is_dir() else "not a directory"


def not_negative(value: float | None) -> str | None:
    """A :func:`setting` check: zero or more (None passes)."""
    return None if value is None or value >= 0 else "must not be negative"


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginSettings:
    """How the plugin core treats claims."""

    driver_name: DriverName
    serialize: bool = False
    """Run at most one prepare/unprepare call at a time (the Go helper's default)."""
    max_claims_per_call: int = 1024
    """Larger requests are refused whole: no kubelet sends that many claims for one pod."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeletSettings:
    """Where and how the gRPC services are served."""

    driver_name: DriverName
    plugin_dir: Path
    """Holds the DRA socket (``dra.sock``); normally ``/var/lib/kubelet/plugins/<driver>``."""
    registry_dir: Path = KUBELET_REGISTRY_DIR
    pod_uid: str | None = None
    """Set for rolling updates: socket names then carry the pod UID (kubelet >= 1.33)."""
    serve_v1beta1: bool = True
    health_resend_seconds: float = 10.0
    """The kubelet marks devices Unknown after 30 s without news: resend the list this often."""
    shutdown_grace_seconds: float = 5.0
