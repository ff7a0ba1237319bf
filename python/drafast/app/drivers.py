"""Which drivers ``drafast run`` knows: the built-ins, the ``drafast.drivers`` entry points of
installed packages, and ``module:attr`` names (an embedding project's driver as a process).

Adding a built-in driver is one line in :data:`BUILTIN`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from drafast.driver import DriverKind
from drafast.errors import ConfigError

ENTRY_POINT_GROUP = "drafast.drivers"


class _Builtins(Mapping[str, DriverKind[Any]]):
    """Built-in kinds by name, each imported on first use: ``drafast run file`` never loads
    the other drivers."""

    def __init__(self, modules: Mapping[str, str]) -> None:
        self._modules = dict(modules)

    def __getitem__(self, name: str) -> DriverKind[Any]:
        kind: DriverKind[Any] = importlib.import_module(self._modules[name]).KIND
        return kind

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


BUILTIN: Mapping[str, DriverKind[Any]] = _Builtins(
    {"file": "drafast.drivers.file", "nx": "drafast.drivers.nx", "cpu": "drafast.drivers.cpu"}
)


def entry_points(**select: str) -> Any:
    from importlib.metadata import entry_points as scan  # ~30 ms: only when a name is not built in

    return scan(**select)


def known_names() -> list[str]:
    """Built-ins and installed entry points (``module:attr`` is accepted too)."""
    names = set(BUILTIN)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def find_kind(name: str) -> DriverKind[Any]:
    """The :class:`DriverKind` named ``name``; a one-line ConfigError when there is none."""
    if name in BUILTIN:
        return BUILTIN[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        return _checked(name, _load(name, ep.load))
    if ":" in name:
        module, _, attr = name.partition(":")
        return _checked(name, _load(name, lambda: getattr(importlib.import_module(module), attr)))
    raise ConfigError(
        f"unknown driver {name!r}; known: {', '.join(known_names())} (or module:attr)"
    )


def _load(name: str, load: Any) -> Any:
    try:
        return load()
    except ModuleNotFoundError as err:
        raise ConfigError(f"driver {name!r}: cannot import module {err.name!r}") from err
    except AttributeError as err:
        raise ConfigError(f"driver {name!r}: {err}") from err
    except ImportError as err:
        raise ConfigError(f"driver {name!r}: cannot import: {err}") from err


def _checked(name: str, obj: Any) -> DriverKind[Any]:
    if isinstance(obj, DriverKind):
        return obj
    kind = getattr(obj, "KIND", None)  # a module or package named directly
    if isinstance(kind, DriverKind):
        return kind
    raise ConfigError(f"driver {name!r}: expected a drafast.driver.DriverKind, got {type(obj)}")
