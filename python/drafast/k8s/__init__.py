"""The cluster store: the API server (the only package that talks to it, and the only one that
imports the ``kubernetes`` client) or, offline, a directory of YAML/JSON objects
(``--cluster dir:PATH``).

* :class:`KubeAPI` -- async raw-JSON client with retries; errors in :mod:`drafast.k8s.errors`;
* :class:`KubeClaimSource` -- the :class:`drafast.driver.ClaimSource` of a real cluster;
* :class:`ClaimStatusWriter` -- a driver's ``status.devices`` entries of a ResourceClaim;
* :class:`NodeLabels` -- labels a component owns on its Node;
* :class:`DirStore` and friends -- the offline stand-in; :class:`DirSlices` is its ``SliceAPI``
  (the same reconciler publishes to either);
* (unit tests use the in-memory API server :mod:`drafast.testing.fakeapi`).

May import drafast.driver, drafast.config, drafast.resourceapi, drafast.runtime, drafast.types
and drafast.errors.

The names are imported on first use (PEP 562): a ``dir:`` run never loads the API client, and
a kubelet plugin pays for it after it is serving, not before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drafast.k8s.allocated import KubeAllocatedClaims
    from drafast.k8s.api import ApiStats, KubeAPI, PatchType
    from drafast.k8s.claims import KubeClaimSource
    from drafast.k8s.dirports import DirAllocatedClaims, DirClaimStatus, DirNodeLabels
    from drafast.k8s.dirslices import DirSlices
    from drafast.k8s.dirstore import DirClaimSource, DirStore
    from drafast.k8s.errors import (
        AlreadyExistsError,
        ApiError,
        ApiRequestError,
        ApiUnavailableError,
        ConflictError,
        GoneError,
        NotFoundError,
    )
    from drafast.k8s.labels import OWNED_LABELS_ANNOTATION, NodeLabels
    from drafast.k8s.lease import LeaseElector, LeaseLostError
    from drafast.k8s.metrics import ApiMetrics
    from drafast.k8s.nodes import node_owner_reference, node_uid
    from drafast.k8s.objects import allocated_claim
    from drafast.k8s.paths import RESOURCE_V1, ObjectRef, claim_path, node_path, slice_path
    from drafast.k8s.settings import KubeSettings
    from drafast.k8s.status import ClaimStatusWriter
    from drafast.types import Condition, DeviceKey, DeviceStatus, NetworkData

_LAZY: dict[str, str] = {
    "KubeAllocatedClaims": "drafast.k8s.allocated",
    "ApiStats": "drafast.k8s.api",
    "KubeAPI": "drafast.k8s.api",
    "PatchType": "drafast.k8s.api",
    "KubeClaimSource": "drafast.k8s.claims",
    "DirAllocatedClaims": "drafast.k8s.dirports",
    "DirClaimStatus": "drafast.k8s.dirports",
    "DirNodeLabels": "drafast.k8s.dirports",
    "DirSlices": "drafast.k8s.dirslices",
    "DirClaimSource": "drafast.k8s.dirstore",
    "DirStore": "drafast.k8s.dirstore",
    "AlreadyExistsError": "drafast.k8s.errors",
    "ApiError": "drafast.k8s.errors",
    "ApiRequestError": "drafast.k8s.errors",
    "ApiUnavailableError": "drafast.k8s.errors",
    "ConflictError": "drafast.k8s.errors",
    "GoneError": "drafast.k8s.errors",
    "NotFoundError": "drafast.k8s.errors",
    "OWNED_LABELS_ANNOTATION": "drafast.k8s.labels",
    "NodeLabels": "drafast.k8s.labels",
    "LeaseElector": "drafast.k8s.lease",
    "LeaseLostError": "drafast.k8s.lease",
    "ApiMetrics": "drafast.k8s.metrics",
    "node_owner_reference": "drafast.k8s.nodes",
    "node_uid": "drafast.k8s.nodes",
    "allocated_claim": "drafast.k8s.objects",
    "RESOURCE_V1": "drafast.k8s.paths",
    "ObjectRef": "drafast.k8s.paths",
    "claim_path": "drafast.k8s.paths",
    "node_path": "drafast.k8s.paths",
    "slice_path": "drafast.k8s.paths",
    "KubeSettings": "drafast.k8s.settings",
    "ClaimStatusWriter": "drafast.k8s.status",
    "Condition": "drafast.types",
    "DeviceKey": "drafast.types",
    "DeviceStatus": "drafast.types",
    "NetworkData": "drafast.types",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "OWNED_LABELS_ANNOTATION",
    "RESOURCE_V1",
    "AlreadyExistsError",
    "ApiError",
    "ApiMetrics",
    "ApiRequestError",
    "ApiStats",
    "ApiUnavailableError",
    "ClaimStatusWriter",
    "Condition",
    "ConflictError",
    "DeviceKey",
    "DeviceStatus",
    "DirAllocatedClaims",
    "DirClaimSource",
    "DirClaimStatus",
    "DirNodeLabels",
    "DirSlices",
    "DirStore",
    "GoneError",
    "KubeAPI",
    "KubeAllocatedClaims",
    "KubeClaimSource",
    "KubeSettings",
    "LeaseElector",
    "LeaseLostError",
    "NetworkData",
    "NodeLabels",
    "NotFoundError",
    "ObjectRef",
    "PatchType",
    "allocated_claim",
    "claim_path",
    "node_owner_reference",
    "node_path",
    "node_uid",
    "slice_path",
]
