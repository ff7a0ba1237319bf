"""Durable record of prepared claims: a thin face over the native checkpoint.

May import drafast._native, drafast.runtime, drafast.resourceapi, drafast.types and
drafast.errors only.
"""

from drafast.state.codec import ClaimRecord
from drafast.state.store import ClaimStore

__all__ = ["ClaimRecord", "ClaimStore"]
