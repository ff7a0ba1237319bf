"""ResourceSlice publishing: desired state (DriverResources) -> slice objects -> a sink.

* :class:`SliceReconciler` -- the API-server publisher, with the Go resourceslice controller's
  semantics (index names, generations, minimal writes, watch + resync);
* :func:`encode_slices` -- DriverResources -> validated ResourceSlice objects.

May import drafast.k8s, drafast.driver, drafast.types, drafast.config and drafast.errors.
"""

from drafast.publish.encode import encode_slices
from drafast.publish.reconciler import SliceReconciler, SyncStats
from drafast.publish.sliceapi import OwnerRef, SliceAPI

__all__ = [
    "OwnerRef",
    "SliceAPI",
    "SliceReconciler",
    "SyncStats",
    "encode_slices",
]
