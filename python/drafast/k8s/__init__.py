"""The cluster store: the API server (through the official ``kubernetes`` client; the only
package that imports it) or, offline, a directory of YAML/JSON objects (``--cluster dir:PATH``).

May import drafast.types, drafast.config and drafast.errors.
"""

from drafast.k8s.dirstore import DirClaimSource, DirSliceSink, DirStore
from drafast.k8s.objects import allocated_claim

__all__ = ["DirClaimSource", "DirSliceSink", "DirStore", "allocated_claim"]
