"""The backend the DRAPlugin services call: :class:`drafast.plugin.PluginCore` in production."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from drafast.plugin.results import PrepareResult, UnprepareResult
from drafast.types import ClaimRef


class ClaimHandler(Protocol):
    """Prepares and unprepares batches of claims for the kubelet.

    Contract:

    * Calls may run concurrently (several pods, v1 and v1beta1 alike); each must be idempotent.
    * The answer has one entry per distinct requested claim UID (``""`` included), keyed by the
      UID string. Per-claim failures are values (``error`` set), never a missing entry.
    * Raising fails the whole call: :class:`drafast.errors.RecoverableError` becomes
      ``UNAVAILABLE``, :class:`drafast.errors.PermanentError` ``INVALID_ARGUMENT`` or
      ``FAILED_PRECONDITION``, anything else ``INTERNAL``; the kubelet retries later either way.
    """

    async def prepare(self, claims: Sequence[ClaimRef]) -> Mapping[str, PrepareResult]: ...

    async def unprepare(self, claims: Sequence[ClaimRef]) -> Mapping[str, UnprepareResult]: ...
