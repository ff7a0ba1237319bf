"""Where claims come from and slices go: the API server (``--cluster kube``) or a directory
store (``--cluster dir:PATH``). Same plugin code paths; only these two backends differ."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from drafast.app.components import Component, Gate
from drafast.app.settings import RunOptions
from drafast.driver import AllocatedClaims, ClaimSource, ClaimStatusSink, NodeLabelSink
from drafast.errors import ConfigError, DrafastError
from drafast.runtime.backoff import Backoff
from drafast.runtime.metrics import Metrics
from drafast.types import DriverName, DriverResources, NodeName

if TYPE_CHECKING:  # each backend's modules are imported only by a process that uses it
    from drafast.k8s.api import KubeAPI
    from drafast.k8s.dirstore import DirStore
    from drafast.k8s.settings import KubeSettings
    from drafast.publish import OwnerRef, SliceReconciler

log = logging.getLogger(__name__)


def owned_labels_annotation(driver: str) -> str:
    """Each driver records the Node labels it owns under its own key."""
    return f"{driver}/owned-labels"


def lease_name(driver: str) -> str:
    """One Lease per driver: its controllers elect among themselves."""
    return f"{driver.replace('.', '-')}-controller"


class Cluster(Protocol):
    """One backend for everything a process reads from and writes to the cluster."""

    claims: ClaimSource
    claim_status: ClaimStatusSink
    node_labels: NodeLabelSink | None
    allocated_claims: AllocatedClaims

    def leader_election(self, opts: RunOptions) -> list[Component]:
        """Components that make this replica the only active controller (none offline)."""
        ...

    @property
    def published(self) -> bool:
        """The desired slices have been published at least once."""
        ...

    async def publish(self, resources: DriverResources) -> None:
        """Hand over the desired state (the kube backend writes it in the background)."""
        ...

    async def run(self) -> None:
        """Background work until cancelled (watch + resync for the kube backend)."""
        ...

    async def close(self) -> None: ...


class DirCluster:
    """The offline store: claims and ports on its files, slices through the same reconciler as
    the API server (over :class:`DirSlices`). A publish is applied before it returns: there is
    no API server to catch up later, and readers of the directory expect the files."""

    def __init__(self, root: Path, driver: str, node: NodeName | None, metrics: Metrics) -> None:
        from drafast.k8s.dirports import DirAllocatedClaims, DirClaimStatus, DirNodeLabels
        from drafast.k8s.dirslices import DirSlices
        from drafast.k8s.dirstore import DirClaimSource, DirStore
        from drafast.publish import OwnerRef, SliceReconciler
        from drafast.publish.metrics import PublishMetrics

        self.store: DirStore = DirStore(root)
        self.claims: ClaimSource = DirClaimSource(self.store)
        self.claim_status: ClaimStatusSink = DirClaimStatus(self.store, DriverName(driver))
        self.node_labels: NodeLabelSink | None = (
            DirNodeLabels(self.store, node, annotation=owned_labels_annotation(driver))
            if node
            else None
        )
        self.allocated_claims: AllocatedClaims = DirAllocatedClaims(self.store, DriverName(driver))
        owner = OwnerRef(name=node, uid=self._node_uid(node)) if node else None
        self.reconciler = SliceReconciler(
            DirSlices(self.store), driver, owner, metrics=PublishMetrics(metrics)
        )

    def _node_uid(self, node: NodeName) -> str:
        """The Node object's UID if the store has one (offline there may be no Node at all)."""
        obj = self.store.get("nodes", node)
        return str(((obj or {}).get("metadata") or {}).get("uid") or "")

    @property
    def published(self) -> bool:
        return self.reconciler.synced

    async def publish(self, resources: DriverResources) -> None:
        self.reconciler.set_desired(resources)
        await self.reconciler.sync_once()

    async def run(self) -> None:
        await self.reconciler.run()  # repairs slice files changed behind our back

    async def close(self) -> None:
        return None

    def leader_election(self, opts: RunOptions) -> list[Component]:
        return []  # one offline process: nobody to elect against


class KubeCluster:
    """The API server through :class:`KubeAPI`; slices by a :class:`SliceReconciler` owned by
    this node's Node object (its UID is looked up, retried until the Node exists), or by no one
    for a controller."""

    def __init__(
        self, settings: KubeSettings, driver: str, node: NodeName | None, metrics: Metrics
    ):
        from drafast.k8s import (
            ClaimStatusWriter,
            KubeAllocatedClaims,
            KubeAPI,
            KubeClaimSource,
            NodeLabels,
        )
        from drafast.k8s.metrics import ApiMetrics

        self.api: KubeAPI = KubeAPI(settings, metrics=ApiMetrics(metrics))
        self.claims: ClaimSource = KubeClaimSource(self.api)
        self.claim_status: ClaimStatusSink = ClaimStatusWriter(self.api, DriverName(driver))
        self.node_labels: NodeLabelSink | None = (
            NodeLabels(self.api, node, annotation=owned_labels_annotation(driver)) if node else None
        )
        self.allocated_claims: AllocatedClaims = KubeAllocatedClaims(self.api, DriverName(driver))
        self._driver = driver
        self._node = node
        self._metrics = metrics
        self._desired: DriverResources | None = None
        self._reconciler: SliceReconciler | None = None

    @property
    def published(self) -> bool:
        return self._reconciler is not None and self._reconciler.synced

    async def publish(self, resources: DriverResources) -> None:
        """Hand over the desired state; the reconciler writes it in the background."""
        self._desired = resources
        if self._reconciler is not None:
            self._reconciler.set_desired(resources)

    def leader_election(self, opts: RunOptions) -> list[Component]:
        """A Lease named after the driver in ``--lease-namespace``: start waits until this
        replica leads; losing the Lease fails the task group, so every writer stops."""
        from drafast.k8s.lease import LeaseElector

        identity = opts.lease_identity or socket.gethostname()
        elector = LeaseElector(
            self.api,
            opts.lease_namespace,
            lease_name(self._driver),
            identity,
            lease_duration=opts.lease_duration_seconds,
            renew_deadline=opts.renew_deadline_seconds,
            retry_period=opts.retry_period_seconds,
        )
        return [Gate("lease", elector.acquire, elector.hold, elector.release)]

    async def _owner(self) -> OwnerRef | None:
        if self._node is None:
            return None  # a controller: pools with no Node owner
        from drafast.k8s.nodes import node_uid
        from drafast.publish import OwnerRef

        backoff = Backoff(0.5, 30.0)
        while True:
            try:
                return OwnerRef(name=self._node, uid=await node_uid(self.api, self._node))
            except DrafastError as err:
                log.warning("waiting for this node's Node object", extra={"error": str(err)})
                await backoff.sleep()

    async def run(self) -> None:
        # The reconciler's modules load here, after the kubelet registered the plugin.
        from drafast.k8s.slices import KubeSlices
        from drafast.publish import SliceReconciler
        from drafast.publish.metrics import PublishMetrics

        owner = await self._owner()
        self._reconciler = SliceReconciler(
            KubeSlices(self.api), self._driver, owner, metrics=PublishMetrics(self._metrics)
        )
        if self._desired is not None:
            self._reconciler.set_desired(self._desired)
        await self._reconciler.run()

    async def close(self) -> None:
        await self.api.close()


def open_cluster(
    spec: str,
    kubeconfig: Path | None,
    driver: str,
    node: NodeName | None,
    metrics: Metrics,
    *,
    context: str | None = None,
) -> Cluster:
    if spec.startswith("dir:"):
        return DirCluster(Path(spec[4:]).absolute(), driver, node, metrics)
    if spec == "kube":
        from drafast.k8s.settings import KubeSettings

        settings = KubeSettings(kubeconfig=kubeconfig, context=context)
        return KubeCluster(settings, driver, node, metrics)
    raise ConfigError(f"--cluster {spec!r}: expected 'kube' or 'dir:PATH'")
