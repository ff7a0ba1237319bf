"""Settings dataclasses -> argparse options, environment variables, YAML keys and command lines.

A field described with :func:`drafast.config.setting` is spelled once: its flag, env var and
help live in the field's metadata, its type decides the conversion. Values from flags, the
environment and the YAML file arrive as strings (or YAML scalars) and are converted and checked
here, once, with one-line errors that name the flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import functools
import math
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from drafast.config import SETTING, SettingInfo
from drafast.errors import ConfigError

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    """One user-facing field: its name, value type (``X | None`` unwrapped) and description."""

    name: str
    type: type
    optional: bool
    info: SettingInfo
    default: Any
    required: bool

    @property
    def key(self) -> str:
        """The YAML key and the argparse dest: the flag without dashes (``nx_sharing``)."""
        return self.info.flag.lstrip("-").replace("-", "_")


@functools.cache
def settings_of(cls: Any) -> tuple[Setting, ...]:
    """The :func:`setting` fields of a settings dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        info = f.metadata.get(SETTING)
        if not isinstance(info, SettingInfo):
            continue
        kind, optional = _unwrap(hints[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else f.default
        out.append(Setting(f.name, kind, optional, info, default, required))
    return tuple(out)


def _unwrap(hint: Any) -> tuple[type, bool]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    if not isinstance(hint, type):
        raise TypeError(f"unsupported settings type {hint!r}")
    return hint, False


def env_names(cls: type) -> list[str]:
    return [s.info.env for s in settings_of(cls) if s.info.env]


def _help(s: Setting) -> str:
    parts = [s.info.help]
    tail = []
    if s.info.env:
        tail.append(s.info.env)
    if s.type is not bool and s.default not in (None, ""):
        tail.append(f"default {s.default}")
    if tail:
        parts.append(f"[{', '.join(tail)}]")
    return " ".join(parts)


def add_arguments(group: argparse._ActionsContainer, cls: type) -> None:
    """One option per setting; every value stays None unless given, so env and file can fill
    it in. Values are converted later by :func:`convert` (one error style for all sources)."""
    for s in settings_of(cls):
        if s.type is bool:
            group.add_argument(
                s.info.flag, dest=s.key, action="store_true", default=None, help=_help(s)
            )
            continue
        choices = [str(m) for m in s.type] if issubclass(s.type, enum.Enum) else None
        group.add_argument(
            s.info.flag, dest=s.key, default=None, help=_help(s), metavar=s.info.metavar,
            choices=choices,
        )  # fmt: skip


def convert(s: Setting, raw: Any) -> Any:
    """``raw`` (a flag string, env string or YAML scalar) as the setting's type, checked."""
    if raw is None or (raw == "" and s.optional):
        return None
    value = _convert(s, raw)
    why = s.info.check(value) if s.info.check else None
    if why:
        raise ConfigError(f"{s.info.flag} {value}: {why}")
    return value


def _convert(s: Setting, raw: Any) -> Any:
    t = s.type
    flag = s.info.flag
    if t is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigError(f"{flag} {raw!r}: expected true or false")
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ConfigError(f"{flag} {raw!r}: expected {_type_word(t)}")
    if issubclass(t, enum.Enum):
        try:
            return t(str(raw))
        except ValueError:
            names = [str(m) for m in t]
            words = " or ".join(names) if len(names) == 2 else "one of " + ", ".join(names)
            raise ConfigError(f"{flag} {raw!r}: expected {words}") from None
    if t is int:
        try:
            return int(str(raw), 10)
        except ValueError:
            raise ConfigError(f"{flag} {raw!r}: expected an integer") from None
    if t is float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{flag} {raw!r}: expected a number") from None
        if not math.isfinite(value):
            raise ConfigError(f"{flag} {raw!r}: expected a finite number")
        return value
    if t is Path:
        if str(raw) == "":
            raise ConfigError(f"{flag}: expected a path, got an empty value")
        return Path(str(raw)).absolute()
    if t is str:
        return str(raw)
    raise TypeError(f"unsupported settings type {t!r}")


def _type_word(t: type) -> str:
    if issubclass(t, enum.Enum):
        return "one of " + ", ".join(str(m) for m in t)
    return {int: "an integer", float: "a number", str: "a string", Path: "a path"}.get(t, "a value")


def pick(
    cls: type,
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    file: Mapping[str, Any],
) -> Iterator[tuple[Setting, Any]]:
    """Each setting's raw value, by key: flag, then env, then file (None: the default)."""
    for s in settings_of(cls):
        raw = flags.get(s.key)
        if raw is None and s.info.env and env.get(s.info.env, "") != "":
            raw = env[s.info.env]
        if raw is None:
            raw = file.get(s.key)
        yield s, raw


def build(
    cls: type,
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    file: Mapping[str, Any],
    **fixed: Any,
) -> Any:
    """An instance of ``cls`` from the three sources (plus ``fixed`` non-setting fields)."""
    values: dict[str, Any] = dict(fixed)
    for s, raw in pick(cls, flags, env, file):
        value = convert(s, raw)
        if value is None:
            if s.required:
                env_hint = f" (or set {s.info.env})" if s.info.env else ""
                raise ConfigError(f"{s.info.flag} is required{env_hint}")
            continue
        values[s.name] = value
    return cls(**values)


def file_keys(cls: type) -> set[str]:
    return {s.key for s in settings_of(cls)}


def file_aliases(cls: type) -> dict[str, str]:
    """A peer's spelling of a config-file key -> ours (``reservedCPUs`` -> ``reserved_cpus``)."""
    return {s.info.file_key: s.key for s in settings_of(cls) if s.info.file_key}


def command_line(cls: type, values: Mapping[str, Any]) -> list[str]:
    """The flags that set ``values`` (by key): what harnesses put on a command line."""
    known = {s.key: s for s in settings_of(cls)}
    argv: list[str] = []
    for name, value in values.items():
        s = known.get(name)
        if s is None:
            raise KeyError(f"{cls.__name__} has no setting {name!r}")
        if s.type is bool:
            if value:
                argv.append(s.info.flag)
            continue
        if value is not None:
            argv.append(f"{s.info.flag}={value}")  # one word: an empty value stays a value
    return argv


def describe(obj: Any) -> dict[str, Any]:
    """The effective settings for the start-up log line (secrets never: none are settings)."""
    out = {}
    cls: Any = type(obj)
    for s in settings_of(cls):
        value = getattr(obj, s.name)
        out[s.key] = str(value) if isinstance(value, Path | enum.Enum) else value
    return out
