"""The contracts between the framework and the drivers. Imports only types and errors.

A driver author implements one of these protocols in a few dozen lines and never sees gRPC,
sockets, the checkpoint or the API server:

* :class:`ResourceSource` -- publishes devices only (e.g. the composable driver, which runs as a
  Deployment and never gets kubelet calls);
* :class:`KubeletDriver` -- a node-local driver: publishes devices and prepares claims;
* :class:`HealthSource` -- optional: reports device health to the kubelet;
* :class:`NRIHooks` -- optional: container-lifecycle hooks from the runtime (the CPU driver).

The framework consumes a :class:`ClaimSource` (the API server, or the offline directory store).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from drafast.types import (
    JSON,
    Claim,
    ClaimRef,
    DeviceHealth,
    DriverName,
    DriverResources,
    PreparedClaim,
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
      in another process after a restart) and must be idempotent.
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
    """Optional: rebuild state from the checkpoint when the plugin starts."""

    async def restore(self, prepared: Sequence[tuple[ClaimRef, PreparedClaim]]) -> None:
        """Called once at start, before any kubelet call, with every checkpointed claim:
        rebuild in-memory state and repair host state a crash or power loss left behind.
        Must be idempotent; errors are logged and do not stop the plugin."""
        ...


@runtime_checkable
class HealthSource(Protocol):
    """Optional: device health for the kubelet's DRAResourceHealth stream."""

    async def health(self) -> Sequence[DeviceHealth]:
        """The health of every device this driver publishes (the complete list, every time)."""
        ...


@runtime_checkable
class NRIHooks(Protocol):
    """Optional: container lifecycle hooks from the runtime's NRI (design for the CPU driver).

    Arguments and results are NRI objects in their protojson form; ``adjust`` returns a
    ``ContainerAdjustment`` and ``update`` a list of ``ContainerUpdate`` objects.
    """

    async def synchronize(
        self, pods: Sequence[JSON], containers: Sequence[JSON]
    ) -> Sequence[JSON]: ...

    async def adjust(self, pod: JSON, container: JSON) -> JSON: ...

    async def removed(self, pod: JSON, container: JSON) -> Sequence[JSON]: ...


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
    "ClaimSource",
    "HealthSource",
    "KubeletDriver",
    "NRIHooks",
    "ResourceSource",
    "RestoringDriver",
]
