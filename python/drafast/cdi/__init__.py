"""Per-claim CDI specs: a thin face over the native CDI writer.

May import drafast._native, drafast.types and drafast.errors only.
"""

from drafast.cdi.claimspec import ClaimSpecWriter, edits_to_cdi

__all__ = ["ClaimSpecWriter", "edits_to_cdi"]
