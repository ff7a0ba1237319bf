"""The ``resource.k8s.io/v1`` vocabulary: names and limits (:mod:`.names`), exact quantities
(:mod:`.quantity`), typed values <-> JSON for ResourceSlices (:mod:`.slicecodec`) and CDI
container edits (:mod:`.cdiedits`), and strict ResourceClaim parsing (:mod:`.claim`). One copy
of each rule, shared by every layer above.

May import drafast.types and drafast.errors only (it sits beside drafast.config).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from drafast.resourceapi.names import API_GROUP, API_VERSION, API_VERSION_V1

if TYPE_CHECKING:
    from drafast.resourceapi.quantity import Quantity, QuantityFormat, canonical_quantity

# Quantities (fractions, decimal) are imported on first use (PEP 562): a plugin's start needs
# only the names, and only drivers that publish capacities ever parse a quantity.
_QUANTITY = frozenset({"Quantity", "QuantityFormat", "canonical_quantity"})


def __getattr__(name: str) -> Any:
    if name not in _QUANTITY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("drafast.resourceapi.quantity"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "API_GROUP",
    "API_VERSION",
    "API_VERSION_V1",
    "Quantity",
    "QuantityFormat",
    "canonical_quantity",
]
