"""NRI service and method names and the event mask (fact sheet §4): the wire's vocabulary."""

from __future__ import annotations

from collections.abc import Iterable

from drafast.nri.proto import api_pb2 as api

PLUGIN_SERVICE = "nri.pkg.api.v1alpha1.Plugin"
"""Served by the plugin on mux conn 1."""
RUNTIME_SERVICE = "nri.pkg.api.v1alpha1.Runtime"
"""Served by the runtime on mux conn 2."""

CONFIGURE = "Configure"
SYNCHRONIZE = "Synchronize"
SHUTDOWN = "Shutdown"
CREATE_CONTAINER = "CreateContainer"
UPDATE_CONTAINER = "UpdateContainer"
STOP_CONTAINER = "StopContainer"
STATE_CHANGE = "StateChange"
REGISTER_PLUGIN = "RegisterPlugin"
UPDATE_CONTAINERS = "UpdateContainers"
"""Never called by drafast (it can deadlock containerd with NRI < 0.12.1)."""

VALID_EVENTS = 0x7FF
"""Every event bit NRI 0.6.1/0.8.0 know; a mask with other bits gets a plugin dropped."""


def event_bit(event: int) -> int:
    """The mask bit of an ``api.Event`` value: ``1 << (event - 1)``."""
    return 1 << (event - 1)


def event_mask(events: Iterable[int]) -> int:
    mask = 0
    for event in events:
        mask |= event_bit(event)
    return mask


PLUGIN_EVENTS = event_mask(
    (api.CREATE_CONTAINER, api.UPDATE_CONTAINER, api.STOP_CONTAINER, api.REMOVE_CONTAINER)
)
"""0x688. Explicit and non-zero: 0 would mean every event, and runtimes with NRI >= 0.12 add
events (pod updates, adjustment validation) a plugin must not receive unasked."""


def check_plugin_index(index: str) -> bool:
    """The runtime's rule (``api.CheckPluginIndex``): exactly two ASCII digits."""
    return len(index) == 2 and index.isascii() and index.isdigit()
