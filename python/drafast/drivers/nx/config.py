"""``NxConfig``: the opaque claim/class configuration of the NX driver, parsed strictly.

The same shape as the peer driver's NxConfig (itself the example driver's GpuConfig), in our own
group::

    apiVersion: nx.drafast.dev/v1alpha1     # required
    kind: NxConfig                          # required
    sharing:                                # optional; default TimeSlicing / Default
      strategy: TimeSlicing                 # or SpacePartitioning (required in sharing)
      timeSlicingConfig: {interval: Default}          # Default | Short | Medium | Long
      spacePartitioningConfig: {partitionCount: 4}    # required with SpacePartitioning

Unknown fields are rejected at every level; a config for the other strategy is an error, not
silently ignored. The values reach the container as environment variables (the peer computes
them but never writes them into the CDI spec).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, TypeVar

from drafast.errors import ConfigError

API_VERSION = "nx.drafast.dev/v1alpha1"
CONFIG_KIND = "NxConfig"


class Strategy(enum.StrEnum):
    TIME_SLICING = "TimeSlicing"
    SPACE_PARTITIONING = "SpacePartitioning"


class Interval(enum.StrEnum):
    DEFAULT = "Default"
    SHORT = "Short"
    MEDIUM = "Medium"
    LONG = "Long"


_E = TypeVar("_E", Strategy, Interval)


@dataclass(frozen=True, slots=True, kw_only=True)
class NxConfig:
    """A validated configuration; the defaults are what applies without any config."""

    strategy: Strategy = Strategy.TIME_SLICING
    interval: Interval | None = Interval.DEFAULT
    """Set with TimeSlicing only."""
    partition_count: int | None = None
    """Set with SpacePartitioning only."""

    def env(self) -> tuple[str, ...]:
        """The sharing variables for the container (names as the peer driver promises them)."""
        out = [f"NX_DEVICE_SHARING_STRATEGY={self.strategy}"]
        if self.interval is not None:
            out.append(f"NX_DEVICE_TIMESLICE_INTERVAL={self.interval}")
        if self.partition_count is not None:
            out.append(f"NX_DEVICE_PARTITION_COUNT={self.partition_count}")
        return tuple(out)


def _fields(value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where or 'config'}: expected an object, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{prefix}{unknown[0]}: unknown field (known: {', '.join(allowed)})")
    return value


def _choice(value: Any, where: str, kind: type[_E]) -> _E:
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    known = ", ".join(e.value for e in kind)
    raise ConfigError(f"{where}: expected one of {known}, got {value!r}")


def parse_config(parameters: Any) -> NxConfig:
    """Validate one NxConfig document; a :class:`ConfigError` names the offending field."""
    doc = _fields(parameters, "", ("apiVersion", "kind", "sharing"))
    if "apiVersion" not in doc:
        raise ConfigError(f"apiVersion: required ({API_VERSION})")
    if doc["apiVersion"] != API_VERSION:
        raise ConfigError(f"apiVersion: expected {API_VERSION}, got {doc['apiVersion']!r}")
    if "kind" not in doc:
        raise ConfigError(f"kind: required ({CONFIG_KIND})")
    if doc["kind"] != CONFIG_KIND:
        raise ConfigError(f"kind: expected {CONFIG_KIND}, got {doc['kind']!r}")
    if doc.get("sharing") is None:
        return NxConfig()
    sharing = _fields(
        doc["sharing"], "sharing", ("strategy", "timeSlicingConfig", "spacePartitioningConfig")
    )
    if "strategy" not in sharing:
        raise ConfigError("sharing.strategy: required (TimeSlicing or SpacePartitioning)")
    strategy = _choice(sharing["strategy"], "sharing.strategy", Strategy)
    time_slicing = sharing.get("timeSlicingConfig")
    partitioning = sharing.get("spacePartitioningConfig")
    if strategy is Strategy.TIME_SLICING:
        if partitioning is not None:
            raise ConfigError(
                "sharing.spacePartitioningConfig: only valid with strategy SpacePartitioning"
            )
        ts = _fields(time_slicing or {}, "sharing.timeSlicingConfig", ("interval",))
        interval = ts.get("interval")
        return NxConfig(
            strategy=strategy,
            interval=Interval.DEFAULT
            if interval is None
            else _choice(interval, "sharing.timeSlicingConfig.interval", Interval),
        )
    if time_slicing is not None:
        raise ConfigError("sharing.timeSlicingConfig: only valid with strategy TimeSlicing")
    where = "sharing.spacePartitioningConfig"
    if partitioning is None:
        raise ConfigError(f"{where}: required with strategy SpacePartitioning")
    sp = _fields(partitioning, where, ("partitionCount",))
    count = sp.get("partitionCount")
    if count is None:
        raise ConfigError(f"{where}.partitionCount: required")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"{where}.partitionCount: expected an integer >= 1, got {count!r}")
    return NxConfig(strategy=strategy, interval=None, partition_count=count)
