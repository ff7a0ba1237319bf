"""The kubelet edge: plugin registration, DRAPlugin v1/v1beta1, DRAResourceHealth, sockets.

This is the only package where proto names (``NodePrepareResources``) and ``grpc`` appear, and
the only place where exceptions become gRPC status codes. The generated messages live in
:mod:`drafast.kubelet.proto` (regenerate with ``make proto``); service handlers are
registered by method path (:mod:`drafast.kubelet.methods`), not from generated service code.

* :class:`KubeletServer` -- runs the DRA and registration servers for one driver instance.
* :class:`ClaimHandler` -- the backend it calls (``drafast.plugin.PluginCore``, or a fake).
* :class:`KubeletClient` -- a kubelet stand-in for the CLI, ``drafast.testing`` and tests.

May import grpc, protobuf, :mod:`drafast.plugin` (results and the health board),
:mod:`drafast.types`, :mod:`drafast.config` and :mod:`drafast.errors`. Never imports a driver,
``kubernetes`` or :mod:`drafast.k8s`; :mod:`drafast.app` wires the backend in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from drafast.kubelet.handler import ClaimHandler
from drafast.kubelet.registration import RegistrationState
from drafast.kubelet.server import KubeletServer
from drafast.kubelet.sockets import SocketPaths

if TYPE_CHECKING:
    from drafast.kubelet.client import (
        KubeletCallError,
        KubeletClient,
        PluginInfo,
        Registered,
        RegistrationError,
        ReportedHealth,
    )

# The client's names are imported on first use (PEP 562), as in drafast.k8s: a plugin serves the
# kubelet and never calls it; the CLI's ``drafast kubelet``, the liveness probe, drafast.testing
# and the benchmarks do.
_CLIENT = frozenset(
    {
        "KubeletCallError",
        "KubeletClient",
        "PluginInfo",
        "Registered",
        "RegistrationError",
        "ReportedHealth",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _CLIENT:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("drafast.kubelet.client"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "ClaimHandler",
    "KubeletCallError",
    "KubeletClient",
    "KubeletServer",
    "PluginInfo",
    "Registered",
    "RegistrationError",
    "RegistrationState",
    "ReportedHealth",
    "SocketPaths",
]
