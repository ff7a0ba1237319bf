"""The plugin core: turns kubelet calls into driver calls, concurrently and idempotently.

For each prepare call: claims not yet in the checkpoint are fetched concurrently (before any
lock), then each distinct claim is handled under its own lock: checkpoint hit -> rewrite the CDI
spec (and ``apply`` again, for a staged driver) and answer the same devices; miss -> resolve,
``driver.prepare``, write the CDI spec, checkpoint (group-committed, durable before the answer);
for a :class:`StagedDriver` that restores: ``plan``, then ``apply`` while the record commits.
Every requested UID gets an entry; failures are per-claim error strings naming the claim.
Per-claim work is shielded from the caller's cancellation (a kubelet timeout), so a finished
prepare is always checkpointed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from drafast.cdi import ClaimSpecWriter
from drafast.config import PluginSettings
from drafast.driver import ClaimSource, KubeletDriver, RestoringDriver, StagedDriver
from drafast.errors import CheckpointError, ClaimError, DrafastError, DriverStateError
from drafast.plugin import undo
from drafast.plugin.locks import KeyedLocks
from drafast.plugin.results import DeviceResult, PrepareResult, UnprepareResult
from drafast.resourceapi.names import check_claim_name, check_claim_namespace, check_claim_uid
from drafast.runtime.metrics import Metrics
from drafast.state import ClaimRecord, ClaimStore
from drafast.types import JSON, ClaimRef, PreparedClaim, base_request

log = logging.getLogger(__name__)

R = TypeVar("R", PrepareResult, UnprepareResult)


def _error_text(ref: ClaimRef, err: BaseException) -> str:
    text = "; ".join([str(err), *getattr(err, "__notes__", ())])
    # Our errors already name the claim; anything else gets the claim prepended.
    return text if isinstance(err, DrafastError) and str(ref.uid) in text else f"{ref}: {text}"


def _malformed(ref: ClaimRef) -> str | None:
    try:
        check_claim_namespace(ref.namespace)
        check_claim_name(ref.name)
        check_claim_uid(ref.uid)
    except ClaimError as err:
        return str(err)
    return None


class PluginCore:
    """Implements the kubelet-facing claim handling for one :class:`KubeletDriver`."""

    def __init__(
        self,
        settings: PluginSettings,
        driver: KubeletDriver,
        claims: ClaimSource,
        store: ClaimStore,
        cdi: ClaimSpecWriter,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.driver = driver
        self.claims = claims
        self.store = store
        self.cdi = cdi
        self.metrics = metrics or Metrics(settings.driver_name)
        self._locks = KeyedLocks()
        self._serial = asyncio.Lock() if settings.serialize else None
        self._inflight: set[asyncio.Task[object]] = set()
        self.calls = 0
        """Prepare and unprepare calls answered (the memory trimmer watches it for bursts)."""
        # A driver that rebuilds from the checkpoint at start may unprepare and lose the record
        # in either order, so the two overlap (see _unprepare_overlapped).
        self._restores = isinstance(driver, RestoringDriver)
        # Its host changes overlap the record's commit; safe because restore repairs either
        # half done without the other (see StagedDriver).
        self._stages = driver if self._restores and isinstance(driver, StagedDriver) else None

    async def restore(self) -> None:
        """Hand every checkpointed claim back to a :class:`RestoringDriver` (at start).

        A record this version cannot read (a newer record or driver-state version after a
        rollback, a wrong type) stops the start with a :class:`CheckpointError` naming the file:
        serving on would leave that claim's devices unaccounted for and its unprepare failing
        forever. The file is left as it is for the operator (or the newer version) to read."""
        if isinstance(self.driver, RestoringDriver):
            records = self.store.records()
            try:
                await self.driver.restore([(r.ref, r.prepared) for r in records])
            except (DriverStateError, TypeError, ValueError, KeyError) as err:
                raise CheckpointError(
                    f"{self.store.path}: cannot restore driver state: {err}"
                ) from err
            log.info("driver state restored", extra={"claims": len(records)})

    # ------------------------------------------------------------------ request shaping

    def _distinct(
        self, refs: Sequence[ClaimRef], make_error: Callable[[str], R]
    ) -> tuple[dict[str, ClaimRef], dict[str, R]]:
        """Drop duplicate UIDs; answer malformed and oversized requests per claim."""
        errors: dict[str, R] = {}
        if len(refs) > self.settings.max_claims_per_call:
            msg = (
                f"request carries {len(refs)} claims, more than the limit of "
                f"{self.settings.max_claims_per_call} per call"
            )
            return {}, {r.uid: make_error(f"{r}: {msg}") for r in refs}
        unique: dict[str, ClaimRef] = {}
        for ref in refs:
            if not ref.uid:
                errors[""] = make_error(f"{ref}: empty claim UID")
            elif not ref.namespace or not ref.name:
                errors[ref.uid] = make_error(f"{ref}: empty namespace or name")
            elif problem := _malformed(ref):
                # Before any work: these strings become paths (store, CDI spec, checkpoint key).
                errors[ref.uid] = make_error(f"{ref}: {problem}")
            elif ref.uid in unique and unique[ref.uid] != ref:
                errors[ref.uid] = make_error(
                    f"{ref}: the same UID is also requested as {unique[ref.uid]}"
                )
            elif ref.uid not in errors:
                unique[ref.uid] = ref
        for uid in errors:
            unique.pop(uid, None)
        return unique, errors

    async def _guarded(
        self, ref: ClaimRef, work: Awaitable[R], make_error: Callable[[str], R]
    ) -> R:
        try:
            return await work
        except DrafastError as err:
            log.warning("claim failed", extra={"claim": str(ref), "error": str(err)})
            return make_error(_error_text(ref, err))
        except Exception as err:
            log.exception("claim failed unexpectedly", extra={"claim": str(ref)})
            return make_error(f"{ref}: internal error: {type(err).__name__}: {err}")

    async def _run_all(
        self,
        unique: dict[str, ClaimRef],
        per_claim: Callable[[ClaimRef], Awaitable[R]],
        make_error: Callable[[str], R],
    ) -> dict[str, R]:
        if not unique:
            return {}
        tasks: dict[str, asyncio.Task[R]] = {}
        for uid, ref in unique.items():
            task = asyncio.create_task(
                self._guarded(ref, per_claim(ref), make_error), name=f"claim-{uid}"
            )
            self._inflight.add(task)  # owned here until done, even if the caller is cancelled
            task.add_done_callback(self._inflight.discard)
            tasks[uid] = task
        # Shielded: a cancelled RPC must not interrupt a prepare between driver and checkpoint.
        # (One claim, the common call, needs no gather around its task.)
        await asyncio.shield(task if len(tasks) == 1 else asyncio.gather(*tasks.values()))
        return {uid: t.result() for uid, t in tasks.items()}

    # ------------------------------------------------------------------ prepare

    async def prepare(self, claims: Sequence[ClaimRef]) -> dict[str, PrepareResult]:
        started = time.perf_counter()

        def err(msg: str) -> PrepareResult:
            return PrepareResult(error=msg)

        unique, results = self._distinct(claims, err)
        # Slow API reads happen before any lock, --serialize's included.
        fetched = await self._fetch([r for uid, r in unique.items() if uid not in self.store])
        async with self._serial or contextlib.nullcontext():
            results.update(
                await self._run_all(unique, lambda ref: self._prepare_one(ref, fetched), err)
            )
        self._observe("prepare", started, results)
        return results

    def _observe(self, operation: str, started: float, results: dict[str, R]) -> None:
        seconds = time.perf_counter() - started
        self.calls += 1
        failed = sum(1 for r in results.values() if r.error)
        self.metrics.operation(operation, seconds, len(results), failed)
        self.metrics.set_prepared(len(self.store))
        if log.isEnabledFor(logging.DEBUG):  # the kubelet edge logs every call at info level
            log.debug(
                operation,
                extra={"claims": len(results), "failed": failed, "seconds": round(seconds, 6)},
            )

    async def _fetch(self, refs: list[ClaimRef]) -> dict[str, JSON | BaseException]:
        """GET every claim concurrently, outside any lock; failures are kept per claim."""
        if len(refs) == 1:  # the common call: no gather (it would wrap the coroutine in a task)
            try:
                return {refs[0].uid: await self.claims.get_claim(refs[0])}
            except Exception as err:
                return {refs[0].uid: err}
        got = await asyncio.gather(
            *(self.claims.get_claim(r) for r in refs), return_exceptions=True
        )
        return {r.uid: g for r, g in zip(refs, got, strict=True)}

    def _answer(self, record: ClaimRecord) -> PrepareResult:
        return PrepareResult(
            devices=tuple(
                DeviceResult(
                    request_names=tuple(dict.fromkeys(base_request(r) for r in d.requests)),
                    pool=d.pool,
                    device=d.device,
                    cdi_device_ids=ids,
                    share_id=d.share_id,
                )
                for d, ids in zip(record.prepared.devices, record.cdi_ids, strict=True)
            )
        )

    async def _prepare_one(
        self, ref: ClaimRef, fetched: dict[str, JSON | BaseException]
    ) -> PrepareResult:
        async with self._locks.hold(ref.uid):
            record = self.store.get(ref.uid)
            if record is not None and record.ref != ref:
                raise ClaimError(f"{ref}: the checkpoint holds this UID as {record.ref}")
            if record is not None:
                # Idempotent: /var/run/cdi may have been wiped (reboot); always re-materialize.
                await self.cdi.write(ref.uid, record.prepared)
                if self._stages is not None:  # the record may have outlived a failed apply
                    await self._stages.apply(ref, record.prepared)
                return self._answer(record)
            got = fetched.get(ref.uid)
            if got is None:  # became unprepared while we fetched; fetch now
                got = await self.claims.get_claim(ref)
            if isinstance(got, BaseException):
                raise got
            # The claim parser (and its types) loads with the first prepare, not at start.
            from drafast.resourceapi.claim import resolve_claim

            claim = resolve_claim(got, ref, self.driver.name)
            if self._stages is not None:
                return await self._commit(ref, await self._stages.plan(claim), self._stages)
            return await self._commit(ref, await self.driver.prepare(claim), None)

    async def _commit(
        self, ref: ClaimRef, prepared: PreparedClaim, stages: StagedDriver | None
    ) -> PrepareResult:
        """Write the spec (inline: tmpfs), then commit the record (on an I/O thread) while a
        staged driver's ``apply`` runs, so the prepare waits for the slower of the two.

        Either order of a crash is safe: a spec without a record is removed by unprepare; a
        record without a spec is re-materialized by the kubelet's retry; a staged driver's
        ``restore`` repairs its half. Without a crash, each half that fails undoes the other,
        whatever happens to this task meanwhile."""
        spec = self.cdi.write(ref.uid, prepared)
        record = ClaimRecord(
            ref=ref, prepared=prepared, cdi_ids=self.cdi.device_ids(ref.uid, prepared)
        )
        applying = None if stages is None else asyncio.ensure_future(stages.apply(ref, prepared))
        try:
            await self.store.put(record)
        except BaseException as err:
            # Not durable, so no unprepare will ever come for it: undo the driver's work now.
            rollback = undo.roll_back(
                ref, prepared, spec, err, driver=self.driver, cdi=self.cdi, applying=applying
            )
            await asyncio.shield(rollback)
            raise
        if applying is not None:
            try:
                await applying
            except BaseException as err:
                withdrawal = undo.withdraw(
                    record, spec, err, driver=self.driver, store=self.store, cdi=self.cdi
                )
                await asyncio.shield(withdrawal)
                raise
        await spec
        return self._answer(record)

    # ------------------------------------------------------------------ unprepare

    async def unprepare(self, claims: Sequence[ClaimRef]) -> dict[str, UnprepareResult]:
        started = time.perf_counter()

        def err(msg: str) -> UnprepareResult:
            return UnprepareResult(error=msg)

        unique, results = self._distinct(claims, err)
        async with self._serial or contextlib.nullcontext():
            results.update(await self._run_all(unique, self._unprepare_one, err))
        self._observe("unprepare", started, results)
        return results

    async def _unprepare_one(self, ref: ClaimRef) -> UnprepareResult:
        async with self._locks.hold(ref.uid):
            record = self.store.get(ref.uid)
            if record is not None and self._restores:
                await self._unprepare_overlapped(ref, record)
                return UnprepareResult()
            if record is not None:
                # Driver first, record last: a crash (or a failed unprepare) in between leaves
                # the record, so the kubelet's retry calls the driver again (it is idempotent).
                # The other order could lose the only trace of the driver's work: with the record
                # gone first, the retry finds nothing to undo.
                await self.driver.unprepare(ref, record.prepared)
            # Unknown claims succeed; a spec left by a crash between write and checkpoint goes too.
            self.cdi.remove(ref.uid)
            await self.store.delete(ref.uid)
            return UnprepareResult()

    async def _unprepare_overlapped(self, ref: ClaimRef, record: ClaimRecord) -> None:
        """``driver.unprepare`` and the record's removal at the same time (a RestoringDriver).

        Either order of a crash is safe for a driver that rebuilds from the checkpoint at start:
        the record gone first -> ``restore`` does not see the claim and repairs what the driver
        still held; the driver done first -> ``restore`` sees the claim again (its contract: it
        tolerates that its unprepare already ran) and the kubelet's retry unprepares it again.

        Without a crash, a failed half is repaired here: the driver failed -> the record is
        put back if its removal went through, so the retry reaches the driver again; the
        removal failed -> the record is still there, the retry does both again."""
        self.cdi.remove(ref.uid)  # any order: every unprepare removes it, known claim or not
        removal = asyncio.create_task(self.store.delete(ref.uid), name=f"unprepare-{ref.uid}")
        try:
            await self.driver.unprepare(ref, record.prepared)
        except BaseException as err:
            await asyncio.shield(undo.keep_record(record, removal, err, store=self.store))
            raise
        await removal

    async def drain(self) -> None:
        """Wait for per-claim work that outlived a cancelled call (used at shutdown)."""
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
