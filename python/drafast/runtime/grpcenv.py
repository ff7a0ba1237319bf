"""The gRPC core settings a drafast process serves with. gRPC core reads ``GRPC_EXPERIMENTS``
once, when ``grpc`` is first imported, so :func:`apply` must run before that (``drafast``'s
command does it first thing; an embedding process calls it before its own ``import grpc``).

What it turns off, and why: ``event_engine_listener``. With it on (grpcio's default), every call
a server accepts is read and written by EventEngine's own threads, which then hand each event to
the completion queue the Python server polls: two more thread hops per call. Off, the
completion queue's poller does the socket I/O itself. Measured here with the Go kubelet client on
a no-op unary call: 0.69 -> 0.53 ms of server CPU and 0.75 -> 0.63 ms round trip; a file-driver
prepare + unprepare: 3.7 -> 3.2 ms of CPU and 46 -> 31 context switches.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

EXPERIMENTS = "-event_engine_listener"
# grpcio releases it is set for: measured on 1.85 (requirements-dev.txt pins it), assumed up to
# 1.89. Should a later release drop the experiment, gRPC logs one "unknown experiment" error line
# at start and runs as it would without it; outside this range gRPC keeps its defaults.
TESTED_MINORS = range(85, 90)


def apply(
    environ: MutableMapping[str, str] | None = None,
    modules: Mapping[str, object] | None = None,
    grpc_version: str | None = None,
) -> bool:
    """Set ``GRPC_EXPERIMENTS`` to :data:`EXPERIMENTS` unless the operator set it (even empty),
    ``grpc`` is imported already (too late to matter) or the installed grpcio is not one this was
    checked on. True when it was set."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "GRPC_EXPERIMENTS" in environ or "grpc" in modules:
        return False
    version = installed_grpc_version() if grpc_version is None else grpc_version
    parts = version.split(".")
    if len(parts) < 2 or parts[0] != "1" or not parts[1].isdigit():
        return False
    if int(parts[1]) not in TESTED_MINORS:
        return False
    environ["GRPC_EXPERIMENTS"] = EXPERIMENTS
    return True


def installed_grpc_version() -> str:
    """grpcio's version without importing it (importing is what must come after :func:`apply`):
    read from its ``_grpcio_metadata.py``; "" when grpcio or that file is missing. Not
    ``importlib.metadata``: its imports cost ~34 ms of a plugin's start (see app/version.py)."""
    spec = importlib.util.find_spec("grpc")
    if spec is None or not spec.submodule_search_locations:
        return ""
    for location in spec.submodule_search_locations:
        try:
            text = (Path(location) / "_grpcio_metadata.py").read_text()
        except OSError:
            continue
        if found := re.search(r"""__version__\s*=\s*['"]+([^'"]+)['"]+""", text):
            return found.group(1)
    return ""
