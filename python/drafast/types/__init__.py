"""Value types shared by the plugin core, the drivers and the publisher.

Imports only :mod:`drafast.errors`. Everything here is an immutable value: drivers return them,
the core passes them on, nothing mutates them. JSON-facing names follow ``resource.k8s.io/v1``.

Import every name from here. The claims a prepare sees (``Claim`` and its parts), claim status
(``DeviceStatus`` ...) and containers (``ContainerRef`` ...) live in private modules loaded on
first use (PEP 562): a dataclass costs ~0.3 ms to create, and a plugin's start needs none of them.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NewType

if TYPE_CHECKING:  # the names loaded on first use (below), re-exported for type checkers
    from drafast.types._claims import AllocatedDevice as AllocatedDevice
    from drafast.types._claims import Claim as Claim
    from drafast.types._claims import ConfigSource as ConfigSource
    from drafast.types._claims import Consumer as Consumer
    from drafast.types._claims import OpaqueConfig as OpaqueConfig
    from drafast.types._containers import ContainerAdjustment as ContainerAdjustment
    from drafast.types._containers import ContainerRef as ContainerRef
    from drafast.types._containers import ContainerUpdate as ContainerUpdate
    from drafast.types._status import Condition as Condition
    from drafast.types._status import ConditionStatus as ConditionStatus
    from drafast.types._status import DeviceKey as DeviceKey
    from drafast.types._status import DeviceStatus as DeviceStatus
    from drafast.types._status import NetworkData as NetworkData

ClaimUID = NewType("ClaimUID", str)
DriverName = NewType("DriverName", str)
PoolName = NewType("PoolName", str)
DeviceName = NewType("DeviceName", str)
RequestName = NewType("RequestName", str)
NodeName = NewType("NodeName", str)

JSON = dict[str, Any]
"""A decoded JSON object, as the API server sends it (camelCase keys)."""


def _cut(text: str, limit: int = 253) -> str:
    """Names of the API are at most 253 characters: longer ones are shown cut."""
    return text if len(text) <= limit else f"{text[:64]}...({len(text)} characters)"


def base_request(request: str) -> RequestName:
    """``req/sub`` -> ``req``: the kubelet matches only base request names (prioritized list)."""
    return RequestName(request.split("/", 1)[0])


# --------------------------------------------------------------------------- claims (input)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRef:
    """What the kubelet sends: a claim's namespace, name and UID (nothing else)."""

    namespace: str
    name: str
    uid: ClaimUID

    def __str__(self) -> str:
        # Cut: a kubelet call may carry anything, and every per-claim error starts with this.
        ns, name, uid = (_cut(v) for v in (self.namespace, self.name, self.uid))
        return f"claim {ns}/{name} ({uid})"


# --------------------------------------------------------------------------- CDI edits (output)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceNode:
    path: str
    host_path: str | None = None
    type: str | None = None
    major: int | None = None
    minor: int | None = None
    file_mode: int | None = None
    permissions: str | None = None
    uid: int | None = None
    gid: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    host_path: str
    container_path: str
    type: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Hook:
    hook_name: str
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerEdits:
    """CDI container edits for one device (env ``NAME=value``, device nodes, mounts, hooks)."""

    env: tuple[str, ...] = ()
    device_nodes: tuple[DeviceNode, ...] = ()
    mounts: tuple[Mount, ...] = ()
    hooks: tuple[Hook, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.env or self.device_nodes or self.mounts or self.hooks)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedDevice:
    """One device of a prepared claim, as the driver made it ready."""

    requests: tuple[str, ...]
    """Requests this device serves (full or base names; the kubelet edge sends base names)."""
    pool: PoolName
    device: DeviceName
    edits: ContainerEdits = ContainerEdits()
    share_id: str | None = None
    cdi_device_ids: tuple[str, ...] = ()
    """Extra CDI IDs the driver manages itself; the core adds the ID of its per-claim spec."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedClaim:
    """What a driver returns from prepare, and what the checkpoint keeps."""

    devices: tuple[PreparedDevice, ...]
    state: JSON = field(default_factory=dict)
    """Driver-private JSON state, checkpointed and handed back at unprepare."""


# --------------------------------------------------------------------------- health


class Health(enum.IntEnum):
    """Values of the kubelet's ``HealthStatus`` enum."""

    UNKNOWN = 0
    HEALTHY = 1
    UNHEALTHY = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceHealth:
    pool: PoolName
    device: DeviceName
    health: Health
    message: str = ""
    timeout_seconds: int = 0
    """Per-device health timeout for the kubelet; 0 = kubelet default (30 s)."""


# --------------------------------------------------------------------------- published resources


class Version(str):
    """A semantic-version attribute value (``DeviceAttribute.version``), distinct from a string."""

    __slots__ = ()


AttributeValue = bool | int | str | Version | tuple[int, ...] | tuple[bool, ...] | tuple[str, ...]

QuantityText = str
"""A Kubernetes quantity as text (``"16Gi"``, ``"4"``, ``"500m"``); ``str()`` of a
:class:`drafast.resourceapi.Quantity` gives one. The publisher validates it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidRange:
    """Allowed share sizes ``min, min+step, ...`` up to ``max`` (None: unbounded)."""

    min: QuantityText
    max: QuantityText | None = None
    step: QuantityText | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPolicy:
    """How claims may take shares of a consumable capacity (``allowMultipleAllocations``): a
    ``default`` share, and either ``valid_values`` (ascending, at most 10) or a ``valid_range``."""

    default: QuantityText | None = None
    valid_values: tuple[QuantityText, ...] = ()
    valid_range: ValidRange | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Capacity:
    value: QuantityText
    """A Kubernetes quantity, e.g. ``"16Gi"`` or ``"4"``."""
    request_policy: RequestPolicy | None = None


class TaintEffect(enum.StrEnum):
    NO_SCHEDULE = "NoSchedule"
    NO_EXECUTE = "NoExecute"
    NONE = "None"
    """Informational only (1.35+)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Taint:
    """A device taint. ``time_added`` (RFC 3339) is set by the API server when None, and kept
    across rewrites by the publisher."""

    key: str
    """A label name (``[prefix/]name``)."""
    effect: TaintEffect
    value: str = ""
    time_added: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterSet:
    """Shared counters of a pool (partitionable devices): name -> quantity."""

    name: str
    """A DNS label, unique in the pool."""
    counters: Mapping[str, QuantityText]


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterConsumption:
    """What one device takes from a counter set while allocated."""

    counter_set: str
    counters: Mapping[str, QuantityText]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSelection:
    """Where devices are usable: exactly one of a node, a ``core/v1`` NodeSelector (JSON with one
    ``nodeSelectorTerms`` entry), or all nodes."""

    node_name: NodeName | None = None
    node_selector: JSON | None = None
    all_nodes: bool = False

    @property
    def chosen(self) -> int:
        """How many of the three are set (valid: exactly 1)."""
        return sum((self.node_name is not None, self.node_selector is not None, self.all_nodes))


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """One device as published in a ResourceSlice."""

    name: DeviceName
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    capacity: Mapping[str, Capacity] = field(default_factory=dict)
    allow_multiple_allocations: bool = False
    taints: tuple[Taint, ...] = ()
    consumes_counters: tuple[CounterConsumption, ...] = ()
    binds_to_node: bool = False
    binding_conditions: tuple[str, ...] = ()
    binding_failure_conditions: tuple[str, ...] = ()
    node_selection: NodeSelection | None = None
    """Per-device node selection (only with ``Slice.per_device_node_selection``)."""

    @property
    def uses_advanced_features(self) -> bool:
        """True when the 64-devices-per-slice limit applies (taints, counters, list attributes)."""
        lists = any(isinstance(v, tuple) for v in self.attributes.values())
        return bool(self.taints or self.consumes_counters or lists)


@dataclass(frozen=True, slots=True, kw_only=True)
class Slice:
    """Devices meant to share one ResourceSlice; the publisher chunks further if needed."""

    devices: tuple[Device, ...] = ()
    shared_counters: tuple[CounterSet, ...] = ()
    per_device_node_selection: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Pool:
    """A pool: node-local (``node_name``) or cluster-level (``node_selector`` or ``all_nodes``)."""

    slices: tuple[Slice, ...]
    node_name: NodeName | None = None
    node_selector: JSON | None = None
    """A ``core/v1`` NodeSelector with one ``nodeSelectorTerms`` entry."""
    all_nodes: bool = False
    generation: int = 0

    @property
    def node_selection(self) -> NodeSelection:
        return NodeSelection(
            node_name=self.node_name, node_selector=self.node_selector, all_nodes=self.all_nodes
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverResources:
    """The desired published state of one driver: pool name -> pool."""

    pools: Mapping[PoolName, Pool]

    def devices(self) -> dict[tuple[PoolName, DeviceName], Device]:
        return {
            (pool_name, dev.name): dev
            for pool_name, pool in self.pools.items()
            for sl in pool.slices
            for dev in sl.devices
        }


# --------------------------------------------------------------------------- loaded on first use

_LAZY: dict[str, str] = {
    "AllocatedDevice": "drafast.types._claims",
    "Claim": "drafast.types._claims",
    "ConfigSource": "drafast.types._claims",
    "Consumer": "drafast.types._claims",
    "OpaqueConfig": "drafast.types._claims",
    "Condition": "drafast.types._status",
    "ConditionStatus": "drafast.types._status",
    "DeviceKey": "drafast.types._status",
    "DeviceStatus": "drafast.types._status",
    "NetworkData": "drafast.types._status",
    "ContainerAdjustment": "drafast.types._containers",
    "ContainerRef": "drafast.types._containers",
    "ContainerUpdate": "drafast.types._containers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
