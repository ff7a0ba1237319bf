"""ResourceSlice publishing: desired state (DriverResources) -> slice objects -> a sink.

May import drafast.k8s, drafast.types, drafast.config and drafast.errors.
"""

from drafast.publish.encode import encode_slices
from drafast.publish.publisher import SlicePublisher

__all__ = ["SlicePublisher", "encode_slices"]
