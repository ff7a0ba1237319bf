"""The contracts between the framework and the drivers. Imports only types and errors.

A driver author implements one of these protocols in a few dozen lines and never sees gRPC,
sockets, the checkpoint or the API server:

* :class:`ResourceSource` -- publishes devices only (e.g. the composable driver, which runs as a
  Deployment and never gets kubelet calls);
* :class:`KubeletDriver` -- a node-local driver: publishes devices and prepares claims;
* :class:`HealthSource` -- optional: reports device health to the kubelet;
* :class:`RestoringDriver` -- optional: rebuilds state from the prepared claims at start;
* :class:`StagedDriver` -- optional, with :class:`RestoringDriver`: prepares in two stages, so
  its host changes overlap the checkpoint commit;
* :class:`PushingSource` -- optional: pushes new desired state instead of waiting for a resync;
* :class:`Runnable` -- optional: a loop of the driver's own, run beside the framework's;
* :class:`ContainerHooks` -- optional: container-lifecycle hooks from the runtime (the CPU driver).

Ports a driver may be handed in its :class:`DriverContext` (built by ``drafast.app`` for the API
server or the offline directory store): :class:`ClaimStatusSink`, :class:`NodeLabelSink`,
:class:`AllocatedClaims`. The framework itself consumes a :class:`ClaimSource`.

A driver package exports a :class:`DriverKind` as ``KIND``: its name, default driver name,
settings dataclass (fields described with :func:`drafast.config.setting`), builder and roles.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from drafast.errors import DriverStateError
from drafast.runtime.iojobs import IoJobs
from drafast.types import (
    JSON,
    ClaimRef,
    DeviceHealth,
    DriverName,
    DriverResources,
    NodeName,
    PreparedClaim,
)

if TYPE_CHECKING:  # annotations only: drafast.types loads these on first use
    from drafast.types import (
        Claim,
        ContainerAdjustment,
        ContainerRef,
        ContainerUpdate,
        DeviceKey,
        DeviceStatus,
    )


@runtime_checkable
class ResourceSource(Protocol):
    """Something that knows which devices exist and how they are published."""

    @property
    def name(self) -> DriverName:
        """The DRA driver name (a DNS subdomain, e.g. ``file.drafast.dev``)."""
        ...

    async def discover(self) -> DriverResources:
        """Return the complete desired published state. Called at start and on every resync;
        must be cheap enough to call every few seconds and must not have side effects."""
        ...


@runtime_checkable
class KubeletDriver(ResourceSource, Protocol):
    """A node-local driver the kubelet calls through the plugin core.

    Contract (enforced by the core, relied upon by drivers):

    * ``prepare`` and ``unprepare`` run concurrently for *distinct* claims, never for the same
      claim; shared driver state must be changed in short synchronous sections (no ``await``
      inside them) or under the driver's own asyncio locks.
    * ``prepare`` is only called for a claim that is not in the checkpoint; a repeated prepare is
      answered by the core from the checkpoint. It raises a :class:`drafast.errors.DrafastError`
      naming the claim to fail that claim alone.
    * ``unprepare`` gets back exactly what ``prepare`` returned (from the checkpoint, so possibly
      in another process after a restart) and must be idempotent. The claim's record is removed
      after it returns, or, for a :class:`RestoringDriver`, while it runs.
    * Rollback is the core's: when a ``prepare`` succeeded but its checkpoint record cannot be
      made durable, the core calls ``unprepare`` with what ``prepare`` returned (shielded from
      cancellation) and removes the CDI spec before it answers the error. A crash between the
      two is repaired at start through :class:`RestoringDriver`, which sees only durable claims.
      A driver never reads the checkpoint itself.
    """

    @property
    def cdi_class(self) -> str:
        """CDI class of this driver's per-claim specs (kind ``k8s.<driver>/<class>``)."""
        ...

    async def prepare(self, claim: Claim) -> PreparedClaim:
        """Make the claim's allocated devices usable; return their CDI edits and private state."""
        ...

    async def unprepare(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        """Undo ``prepare``. Must succeed if already undone."""
        ...


@runtime_checkable
class RestoringDriver(Protocol):
    """Optional: rebuild state from the checkpoint when the plugin starts.

    Because such a driver's state after a restart is whatever ``restore`` makes of the durable
    claims, the core does not order an unprepare's two halves for it: ``unprepare`` and the
    removal of the claim's checkpoint record run concurrently (the checkpoint's fsync no longer
    waits for the driver's own I/O). A crash may therefore leave either half done without the
    other, and ``restore`` must handle both:

    * the record is gone, ``unprepare`` did not run (or not to the end): the claim is not in
      ``prepared``; ``restore`` must release whatever the driver or the host still holds for it
      (state that lives only in memory is simply not rebuilt);
    * ``unprepare`` ran (fully or in part), the record is still there: the claim *is* in
      ``prepared`` although its unprepare already ran. ``restore`` must accept it without error
      (take back what it holds, or note it as held) so that the kubelet's retried
      ``unprepare``, which follows, succeeds and releases it.

    Without a crash the core keeps the record when ``unprepare`` fails (putting it back if its
    removal already went through), so the retry reaches the driver again. A driver that does
    not implement this protocol gets ``unprepare`` first and the record removed after it.
    """

    async def restore(self, prepared: Sequence[tuple[ClaimRef, PreparedClaim]]) -> None:
        """Called once at start, before any kubelet call, with every checkpointed claim:
        rebuild in-memory state and repair host state a crash or power loss left behind
        (including a claim whose unprepare already ran, see above). Must be idempotent; errors
        are logged and do not stop the plugin."""
        ...


@runtime_checkable
class StagedDriver(Protocol):
    """Optional, for a :class:`RestoringDriver`: ``prepare`` split into ``plan`` and ``apply``
    so that the host changes overlap the commit of the claim's checkpoint record.

    ``plan`` decides everything ``prepare`` would return and changes nothing on the host;
    ``apply`` makes the host match what ``plan`` returned. The core commits the record while
    ``apply`` runs and answers once both are done, so a prepare waits for the slower of the two
    instead of their sum. ``prepare`` must stay equivalent to ``plan`` then ``apply`` (other
    callers use it); the core uses the two stages only for a driver that also restores.

    Why this is safe only for a restoring driver: either half may finish without the other.

    * A crash: the record without the host change, or the host change without the record.
      ``restore`` repairs both at the next start (it sees only durable claims).
    * ``apply`` fails and the record is already durable: the core calls ``unprepare`` and
      removes the record and the CDI spec before it answers the error. If the removal fails,
      the record stays; the kubelet's retry then finds it and gets ``apply`` again (below).
    * The commit fails: the core waits for ``apply``, then rolls back as for any driver
      (``unprepare``, spec removed).

    The core also calls ``apply`` for a claim it answers from the checkpoint (a retry, a
    kubelet restart), so ``apply`` must be idempotent and cheap when nothing changed.
    """

    async def plan(self, claim: Claim) -> PreparedClaim:
        """What ``prepare`` would return, without changing the host. Raises a
        :class:`drafast.errors.DrafastError` naming the claim to fail it."""
        ...

    async def apply(self, ref: ClaimRef, prepared: PreparedClaim) -> None:
        """Make the host match ``prepared`` (what ``plan`` returned, possibly in an earlier
        process). Idempotent. On failure it may leave part done: ``unprepare`` follows."""
        ...


@runtime_checkable
class HealthSource(Protocol):
    """Optional: device health for the kubelet's DRAResourceHealth stream."""

    async def health(self) -> Sequence[DeviceHealth]:
        """The health of every device this driver publishes (the complete list, every time)."""
        ...


@runtime_checkable
class PushingSource(Protocol):
    """Optional: a :class:`ResourceSource` that knows when its devices change (hotplug, a
    fabric inventory watch) pushes the new desired state instead of waiting for a resync."""

    def changes(self) -> AsyncIterator[DriverResources]:
        """Yield the complete desired state every time it changes; runs until cancelled."""
        ...


@runtime_checkable
class Runnable(Protocol):
    """Optional: a loop the driver owns (a controller's reconcile loop, a health poller).

    Run as a named task in the process's task group, after the publisher and before the kubelet
    plugin; cancelled at shutdown. Raising stops the process (say why in the error)."""

    async def run(self) -> None: ...


@runtime_checkable
class ContainerHooks(Protocol):
    """Optional: container lifecycle hooks from the runtime (NRI), in runtime-neutral types.

    Contract (kept by the NRI edge, ``drafast.nri``):

    * Calls come one at a time, in the runtime's order, and never overlap each other; they may
      interleave with ``prepare``/``unprepare`` (one event loop), so driver state is changed in
      short synchronous sections.
    * Every ``ContainerUpdate`` returned rides on the reply to the runtime's own request, which
      the runtime applies itself; the edge never sends an unsolicited update
      (``UpdateContainers`` can deadlock containerd with NRI < 0.12.1).
    * A :class:`drafast.errors.DrafastError` from ``create`` or ``update`` fails that container's
      creation or resource update with the error's message; from the other hooks it is logged.
    * Never return an update or adjustment with an empty cpuset: the runtime reads ``""`` as
      "unchanged", which would leave a container on CPUs it must not use.
    """

    async def synchronize(self, containers: Sequence[ContainerRef]) -> Sequence[ContainerUpdate]:
        """Every existing container when the plugin (re)connects to the runtime: rebuild state
        from them and return the updates that bring each one in line (drift correction)."""
        ...

    async def create(self, container: ContainerRef) -> ContainerAdjustment:
        """A container is being created: its own adjustment, plus updates of *other* containers
        (the runtime applies those before it creates this one)."""
        ...

    async def update(self, container: ContainerRef) -> Sequence[ContainerUpdate]:
        """The kubelet changes a container's resources: return updates (the container's own
        included, to keep its cpuset), or nothing to leave the request as it is."""
        ...

    async def stopped(self, container: ContainerRef) -> Sequence[ContainerUpdate]:
        """A container stopped or exited: updates of other containers (applied after the stop),
        e.g. to widen the shared pool with the CPUs it no longer uses."""
        ...

    async def removed(self, container: ContainerRef) -> None:
        """A container was removed (a notification: the runtime takes no updates here)."""
        ...


# --------------------------------------------------------------------------- ports


class ClaimStatusSink(Protocol):
    """Writes this driver's per-device entries of a ResourceClaim's ``status.devices``."""

    async def set(self, ref: ClaimRef, devices: Iterable[DeviceStatus]) -> bool:
        """Upsert the entries (conditions by type); True if the claim was written. Raises
        :class:`drafast.errors.ClaimError` for a device the claim does not have from this driver
        and :class:`drafast.errors.ClaimNotFoundError` if the claim is gone or replaced."""
        ...

    async def remove(self, ref: ClaimRef, keys: Iterable[DeviceKey] | None = None) -> bool:
        """Drop this driver's entries for ``keys`` (all of them when None)."""
        ...


class NodeLabelSink(Protocol):
    """Keeps the labels this component owns on its Node equal to a desired map."""

    async def reconcile(self, desired: Mapping[str, str]) -> bool:
        """Make the owned labels equal ``desired`` (others untouched); True if written."""
        ...


class AllocatedClaims(Protocol):
    """A watch of the claims allocated to this driver's devices (any node)."""

    def watch(self) -> AsyncIterator[Sequence[Claim]]:
        """Level-triggered: yield the complete set of such claims (this driver's results and
        their binding conditions only) at start and after every change. Runs until cancelled;
        reconnects by itself."""
        ...


Role = Literal["node", "controller"]
"""``node``: a DaemonSet pod serving the kubelet (and NRI); ``controller``: a leader-elected
Deployment pod publishing pools with no Node owner and running the driver's loops."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverContext:
    """What the composition root hands a driver's builder, besides its settings."""

    driver_name: DriverName
    node_name: NodeName | None
    """This node (role ``node``); None for a controller."""
    role: Role
    io: IoJobs
    """The process's one native I/O worker (background writes that never take the GIL)."""
    claim_status: ClaimStatusSink
    node_labels: NodeLabelSink | None
    """None for a controller (it has no Node of its own)."""
    allocated_claims: AllocatedClaims


def state_version(doc: JSON, supported: int, driver: str) -> int:
    """The version of a driver's ``PreparedClaim.state`` (``v``; absent in records written
    before it was versioned, which read as 1); a version this code does not read raises
    :class:`drafast.errors.DriverStateError` naming the driver (the core then refuses to start,
    naming the checkpoint)."""
    version = doc.get("v", 1)
    if version != supported:
        raise DriverStateError(
            f"{driver} driver state version {version!r}: this drafast reads version {supported}"
        )
    return supported


S = TypeVar("S")


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverKind(Generic[S]):
    """How ``drafast run <name>`` builds a driver: exported by each driver package as ``KIND``,
    found by ``drafast.app`` among the built-ins, the ``drafast.drivers`` entry points and
    ``module:attr`` names."""

    name: str
    """The name on the command line (``file``, ``nx``)."""
    default_driver_name: DriverName
    settings: type[S]
    """A frozen dataclass whose fields carry flag, env and help (:func:`drafast.config.setting`)."""
    build: Callable[[S, DriverContext], Any]
    """Returns the driver: a :class:`KubeletDriver` for role ``node`` and/or a
    :class:`ResourceSource`, optionally with the other protocols of this module."""
    roles: tuple[Role, ...] = ("node",)
    description: str = ""
    """One line for ``drafast run --help``."""


class ClaimSource(Protocol):
    """Where ResourceClaims come from: the API server or the offline directory store."""

    async def get_claim(self, ref: ClaimRef) -> JSON:
        """Return the ResourceClaim object (decoded JSON) named by ``ref``.

        Raises :class:`drafast.errors.ClaimNotFoundError` when it does not exist and
        :class:`drafast.errors.RecoverableError` on transient failures. Does not check the UID;
        the core does.
        """
        ...


__all__ = [
    "AllocatedClaims",
    "ClaimSource",
    "ClaimStatusSink",
    "ContainerHooks",
    "DriverContext",
    "DriverKind",
    "HealthSource",
    "KubeletDriver",
    "NodeLabelSink",
    "PushingSource",
    "ResourceSource",
    "RestoringDriver",
    "Role",
    "Runnable",
    "StagedDriver",
]
