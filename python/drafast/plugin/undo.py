"""Undoing half of a claim's work when the other half failed (the plugin core's repairs).

Each function is shielded from cancellation by its caller, logs what it could not undo and
notes it on ``cause``, the error the kubelet gets for the claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from drafast.cdi import ClaimSpecWriter
from drafast.driver import KubeletDriver
from drafast.state import ClaimRecord, ClaimStore
from drafast.types import ClaimRef, PreparedClaim

log = logging.getLogger(__name__)


def _remove_spec(cdi: ClaimSpecWriter, ref: ClaimRef, cause: BaseException) -> None:
    try:
        cdi.remove(ref.uid)
    except Exception as err:
        log.error(
            "removing the CDI spec of a rolled-back prepare failed",
            extra={"claim": str(ref), "error": str(err)},
        )
        cause.add_note(f"rollback failed: CDI spec: {err}")


async def roll_back(
    ref: ClaimRef,
    prepared: PreparedClaim,
    spec: asyncio.Future[object],
    cause: BaseException,
    *,
    driver: KubeletDriver,
    cdi: ClaimSpecWriter,
    applying: asyncio.Future[None] | None = None,
) -> None:
    """A prepare whose record could not be made durable: ``driver.unprepare`` with what the
    driver returned (once a staged driver's ``applying`` finished: it would race it), then the
    spec goes (after its write finished). The kubelet's retry prepares the claim again."""
    for pending in (spec, applying):
        if pending is not None:
            with contextlib.suppress(BaseException):
                await pending  # its outcome does not matter: both are undone either way
    try:
        await driver.unprepare(ref, prepared)
    except Exception as err:
        log.error(
            "rollback of a prepare that was not checkpointed failed",
            extra={"claim": str(ref), "error": str(err)},
        )
        cause.add_note(f"rollback failed: driver unprepare: {err}")
    _remove_spec(cdi, ref, cause)
    log.warning(
        "prepare rolled back: its checkpoint record failed",
        extra={"claim": str(ref), "error": str(cause)},
    )


async def withdraw(
    record: ClaimRecord,
    spec: asyncio.Future[object],
    cause: BaseException,
    *,
    driver: KubeletDriver,
    store: ClaimStore,
    cdi: ClaimSpecWriter,
) -> None:
    """A staged driver's ``apply`` failed after the record became durable: ``unprepare``, then
    the record and the spec go. If a step fails, what follows stays: a kept record makes the
    kubelet's retry a checkpoint hit, which applies again, and a restart's ``restore`` repairs
    the host from it."""
    ref = record.ref
    with contextlib.suppress(BaseException):
        await spec
    try:
        await driver.unprepare(ref, record.prepared)
        await store.delete(ref.uid)
    except Exception as err:
        log.error(
            "could not undo a prepare whose apply failed; its record is kept",
            extra={"claim": str(ref), "error": str(err)},
        )
        cause.add_note(f"rollback failed, the checkpoint record is kept: {err}")
        return
    _remove_spec(cdi, ref, cause)
    log.warning(
        "prepare rolled back: the driver's apply failed",
        extra={"claim": str(ref), "error": str(cause)},
    )


async def keep_record(
    record: ClaimRecord, removal: asyncio.Task[None], cause: BaseException, *, store: ClaimStore
) -> None:
    """The driver's unprepare failed while the record's removal ran: make sure the record stays
    (put it back if the removal already made its absence durable). If it cannot be put back,
    the driver keeps what it held for the claim until a restart, whose ``restore`` repairs it."""
    with contextlib.suppress(BaseException):
        await removal  # a failed removal leaves the record where it was
    if record.ref.uid in store:
        return
    try:
        await store.put(record)
    except Exception as err:
        log.error(
            "putting back the record of a failed unprepare failed",
            extra={"claim": str(record.ref), "error": str(err)},
        )
        cause.add_note(f"its checkpoint record could not be kept: {err}")
