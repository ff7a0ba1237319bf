"""The running drafast's version, without ``importlib.metadata`` (~30 ms of imports at start)."""

from __future__ import annotations

from drafast import _native


def drafast_version() -> str:
    """The version drafast was built as: the workspace version in ``Cargo.toml``, which is also
    the wheel's (``[project] dynamic = ["version"]``), compiled into the native extension."""
    return str(_native.__version__)
