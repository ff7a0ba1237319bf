"""One error tree for drafast. Imports nothing from drafast.

The class says whether retrying can help: :class:`RecoverableError` (transient: API outage, lock
contention, the kubelet should call again) or :class:`PermanentError` (the input is wrong and stays
wrong). Messages name the object and what failed, e.g. ``claim ns/name (uid): not allocated``.
Only the gRPC edge (``drafast.kubelet``) turns these into status codes or per-claim error strings.
"""

from __future__ import annotations


class DrafastError(Exception):
    """Root of every error drafast raises on purpose."""


class RecoverableError(DrafastError):
    """A transient failure: the same call may succeed later."""


class PermanentError(DrafastError):
    """The input or environment is wrong; retrying the same call cannot help."""


class ConfigError(PermanentError):
    """A setting, flag or opaque claim configuration is invalid."""


class ClaimError(PermanentError):
    """A ResourceClaim cannot be prepared as it is (not allocated, UID mismatch, malformed)."""


class ClaimNotFoundError(RecoverableError):
    """The ResourceClaim does not exist (yet, or any more) in the cluster store."""


class DeviceError(PermanentError):
    """A device is unknown, unavailable, or its host resource is unusable."""


class CheckpointError(PermanentError):
    """The claim checkpoint is unreadable, corrupted or cannot be written."""


class CDIError(PermanentError):
    """A CDI spec is invalid or cannot be written."""


class SocketError(PermanentError):
    """A plugin socket path is invalid (too long, wrong directory) or cannot be bound."""


class DriverStateError(PermanentError):
    """A prepared claim's driver state (from the checkpoint) cannot be read by this version."""
