"""GRPC_EXPERIMENTS is set for drafast's processes before grpc reads it, never over the
operator's own value, and only on grpcio releases it was checked on."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import pytest

from drafast.runtime import grpcenv


def test_sets_the_experiments_when_nothing_else_did() -> None:
    env: dict[str, str] = {}
    assert grpcenv.apply(env, modules={}, grpc_version="1.85.1")
    assert env == {"GRPC_EXPERIMENTS": "-event_engine_listener"}


@pytest.mark.parametrize("value", ["", "event_engine_listener", "-other"])
def test_the_operators_value_wins(value: str) -> None:
    env = {"GRPC_EXPERIMENTS": value}
    assert not grpcenv.apply(env, modules={}, grpc_version="1.85.1")
    assert env == {"GRPC_EXPERIMENTS": value}


def test_too_late_once_grpc_is_imported() -> None:
    env: dict[str, str] = {}
    assert not grpcenv.apply(env, modules={"grpc": object()}, grpc_version="1.85.1")
    assert env == {}


@pytest.mark.parametrize("version", ["", "1.84.0", "1.90.0", "2.0.0", "1.x", "garbage"])
def test_unchecked_grpcio_releases_keep_grpcs_defaults(version: str) -> None:
    env: dict[str, str] = {}
    assert not grpcenv.apply(env, modules={}, grpc_version=version)
    assert env == {}


def test_reads_the_installed_version_without_importing_grpc() -> None:
    assert grpcenv.installed_grpc_version() == grpc.__version__
    code = (
        "import sys; from drafast.runtime import grpcenv; "
        "print(grpcenv.installed_grpc_version(), 'grpc' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [grpc.__version__, "False"]


def test_the_drafast_command_sets_it_before_grpc_is_imported() -> None:
    code = (
        "import os, sys; from drafast.app.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(os.environ.get('GRPC_EXPERIMENTS'), 'grpc' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    assert out[-2:] == ["-event_engine_listener", "True"]
