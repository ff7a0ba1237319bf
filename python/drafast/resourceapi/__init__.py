"""The ``resource.k8s.io/v1`` vocabulary: names and limits (:mod:`.names`), exact quantities
(:mod:`.quantity`), typed values <-> JSON for ResourceSlices (:mod:`.slicecodec`) and CDI
container edits (:mod:`.cdiedits`), and strict ResourceClaim parsing (:mod:`.claim`). One copy
of each rule, shared by every layer above.

May import drafast.types and drafast.errors only (it sits beside drafast.config).
"""

from drafast.resourceapi.names import API_GROUP, API_VERSION, API_VERSION_V1
from drafast.resourceapi.quantity import Quantity, QuantityFormat, canonical_quantity

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "API_VERSION_V1",
    "Quantity",
    "QuantityFormat",
    "canonical_quantity",
]
