"""The CPU driver's opaque claim configuration, parsed strictly (the peer's shape, plus the
per-claim packing options users asked for in peer issues #45 and #46)::

    apiVersion: v1alpha1        # required
    cpuConfig:
      cpuset: "2-5"             # machine mode: the exact CPUs (an external scheduler chose them)
      fullCores: true           # optional: whole physical cores only
      spreadNUMA: true          # optional: spread across the group's NUMA nodes

Unknown fields are rejected at every level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drafast.drivers.cpu.cpulist import parse_cpulist
from drafast.errors import ConfigError, CpuListError

API_VERSION = "v1alpha1"
_CPU_FIELDS = ("cpuset", "fullCores", "spreadNUMA")


@dataclass(frozen=True, slots=True, kw_only=True)
class CpuConfig:
    cpuset: frozenset[int] | None = None
    full_cores: bool | None = None
    """None: the driver's default."""
    spread_numa: bool | None = None


def _object(value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(allowed)})")
    return value


def _flag(doc: dict[str, Any], key: str) -> bool | None:
    value = doc.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ConfigError(f"cpuConfig.{key}: expected true or false, got {value!r}")


def parse_config(parameters: Any) -> CpuConfig:
    """Validate one config document; a :class:`ConfigError` names the offending field."""
    doc = _object(parameters, "config", ("apiVersion", "cpuConfig"))
    version = doc.get("apiVersion")
    if version != API_VERSION:
        got = "missing" if version is None else repr(version)
        raise ConfigError(f"apiVersion: expected {API_VERSION}, got {got}")
    raw = doc.get("cpuConfig")
    cpu = {} if raw is None else _object(raw, "cpuConfig", _CPU_FIELDS)
    cpuset = None
    if cpu.get("cpuset") is not None:
        text = cpu["cpuset"]
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"cpuConfig.cpuset: expected a non-empty cpu list, got {text!r}")
        try:
            cpuset = parse_cpulist(text)
        except CpuListError as err:
            raise ConfigError(f"cpuConfig.cpuset: {err}") from err
    return CpuConfig(
        cpuset=cpuset, full_cores=_flag(cpu, "fullCores"), spread_numa=_flag(cpu, "spreadNUMA")
    )
