"""Per-claim CDI specs: a thin face over the native CDI writer.

May import drafast._native, drafast.runtime, drafast.resourceapi, drafast.types and
drafast.errors only.
"""

from drafast.cdi.claimspec import ClaimSpecWriter

__all__ = ["ClaimSpecWriter"]
