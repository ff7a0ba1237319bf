"""The NX driver's settings: one field per flag, env var and YAML key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drafast.config import a_directory, setting
from drafast.drivers.nx.inventory import Sharing


def _at_least_one(value: int | None) -> str | None:
    return None if value is None or value >= 1 else "must be at least 1"


@dataclass(frozen=True, slots=True, kw_only=True)
class NxDriverSettings:
    host_root: Path = setting(
        Path("/"),
        flag="--host-root",
        env="HOST_ROOT",
        help="where the host's /sys, /proc and /dev are visible",
        check=a_directory,
    )
    sharing: Sharing = setting(
        Sharing.EXCLUSIVE,
        flag="--nx-sharing",
        env="NX_SHARING",
        help="one claim per accelerator, or many sharing its credits",
    )
    max_shares: int | None = setting(
        None,
        flag="--nx-max-shares",
        env="NX_MAX_SHARES",
        help="cap on the credits published per accelerator (default: probed, else 16)",
        check=_at_least_one,
    )
