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


class CpuListError(ConfigError):
    """A CPU list in the kernel's cpulist form (``0-3,8``) is malformed."""


class CpuAllocationError(DeviceError):
    """The CPUs a claim asks for cannot be given: too few free, a core would be split under
    whole-cores-only, or an explicit cpuset overlaps reserved, offline or taken CPUs."""


class TopologyError(DeviceError):
    """The host's CPU topology (sysfs under the host root) is missing or malformed; the message
    names the file."""


class NriError(RecoverableError):
    """The NRI connection to the container runtime failed or the runtime broke the protocol;
    the plugin reconnects."""
