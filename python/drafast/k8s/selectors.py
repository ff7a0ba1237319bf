"""Equality field selectors (``spec.driver=d,spec.nodeName!=n``) evaluated on JSON objects, for
the stores that answer them without an API server (the dir store, the test kit's fake)."""

from __future__ import annotations

from drafast.types import JSON


def fields_match(obj: JSON, selector: str) -> bool:
    """True when every ``path=value``, ``path==value`` and ``path!=value`` term holds; a missing
    field reads as the empty string (``spec.nodeName=`` selects slices without a node)."""
    for term in filter(None, selector.split(",")):
        negate = "!=" in term
        key, want = term.replace("!=", "=").replace("==", "=").split("=", 1)
        value: object = obj
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if ((value if value is not None else "") == want) == negate:
            return False
    return True
