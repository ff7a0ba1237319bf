"""ResourceSlice publishing: desired state (DriverResources) -> slice objects -> a SliceAPI.

* :class:`SliceReconciler` -- the publisher, with the Go resourceslice controller's semantics
  (index names, generations, minimal writes, watch + resync), for the API server
  (``drafast.k8s.slices.KubeSlices``) and the dir store (``drafast.k8s.DirSlices``) alike;
* :class:`PublishMetrics` -- what it records on the process's metrics registry;
* :func:`pool_slice_specs` -- one pool -> validated ResourceSlice specs, in index order.

May import drafast.k8s (its errors), drafast.driver, drafast.resourceapi, drafast.runtime,
drafast.types, drafast.config and drafast.errors.
"""

from drafast.publish.encode import pool_slice_specs
from drafast.publish.metrics import PublishMetrics
from drafast.publish.reconciler import PublishError, SliceReconciler, SyncStats
from drafast.publish.sliceapi import OwnerRef, SliceAPI

__all__ = [
    "OwnerRef",
    "PublishError",
    "PublishMetrics",
    "SliceAPI",
    "SliceReconciler",
    "SyncStats",
    "pool_slice_specs",
]
