"""The licensing service: all the rules, plus importing pools (sync-format §2) and usage files."""

from __future__ import annotations

import asyncio
import logging
import time

from lls.clock import Clock
from lls.domain.bindings import flags_record
from lls.domain.loading import ENDING_STATUSES, FLOOR_KEY, Loading
from lls.domain.misuse import lock_overused, take_noted
from lls.domain.models import EndReason, Pool, PoolSummary
from lls.domain.pool_rules import check_pool, pool_imported_event
from lls.domain.ports import OfflineCodec, PoolReader, Store
from lls.domain.records import (
    AppendEvent,
    ForgetContexts,
    NoteContexts,
    PruneEvents,
    Record,
    RecordExport,
    ReleaseEnvironment,
    SavePool,
    SetMeta,
)
from lls.domain.state import Carry, LicenseState
from lls.domain.usage import (
    ACK_EVENT_KEY,
    ACK_SEQ_KEY,
    USAGE_SEQ_KEY,
    UsageReport,
    UsageSealer,
    license_usage,
)
from lls.errors import NotFound, Refused, StorageError
from lls.ops.logs import fields
from lls.progress import ProgressHook, quiet

log = logging.getLogger(__name__)


class Licensing(Loading):
    """What the HTTP handlers, jobs and CLI call; owns the in-memory state."""

    def __init__(
        self,
        *,
        store: Store,
        reader: PoolReader,
        codec: OfflineCodec,
        sealer: UsageSealer,
        clock: Clock,
        instance_id: str,
        trust_pools_from: float = 0.0,
        vendor_id: str | None = None,
    ) -> None:
        super().__init__(store=store, clock=clock)
        self.reader = reader
        self.codec = codec
        self.sealer = sealer
        self.usage_seq = 0
        self.ack_event_id = 0
        self.last_usage_export: float | None = None
        self.offline_by_id = {}
        self.instance_id = instance_id
        self.vendor_id = vendor_id  # the pinned vendor: the only `iss` a pool may name
        # After a re-registration on a new machine, only pools issued since then count.
        self.trust_pools_from = trust_pools_from
        self.pool: Pool | None = None
        self.pool_imported_at: float | None = None
        # Usage of licenses no longer in the pool, kept so a license that comes back
        # finds its consumption, binding and lock as the database still holds them.
        self.retired: dict[str, Carry] = {}
        self.verified_pools = {}
        self._import_lock = asyncio.Lock()
        self._export_lock = asyncio.Lock()
        # After a failed write the store's writer rebuilds memory through this, once.
        store.set_rebuild(self.rebuild)

    @property
    def ready(self) -> bool:
        return self.pool is not None

    async def persist_floor(self) -> None:
        """Persist the trusted-time floor (a job calls this; requests raise it in memory only),
        and record a clock turned back even when no request noticed it yet."""
        self._observe_clock()
        await self._record_tamper()
        self.store.check_writable()
        await self._commit([SetMeta(FLOOR_KEY, repr(self.floor))])

    # -- pool import --------------------------------------------------------------------

    async def import_pool(self, raw: str, *, progress: ProgressHook = quiet) -> PoolSummary:
        """Verify and apply a pool file, all or nothing; every refusal leaves state as it was.

        A big pool takes seconds: each step is logged with its counts and time.
        """
        async with self._import_lock:
            started = time.monotonic()
            log.info("pool import: started", extra=fields(bytes=len(raw)))
            progress(f"verifying and decrypting the pool ({len(raw) / 2**20:.1f} MiB)", 0, None)
            pool = await asyncio.to_thread(self.reader.read, raw)
            verified = time.monotonic()
            log.info(
                "pool import: verified",
                extra=fields(
                    seq=pool.seq, licenses=len(pool.licenses), seconds=round(verified - started, 3)
                ),
            )
            ack_event = await self.store.export_point(pool.ack_usage_seq)
            now = self._observe_clock()
            check_pool(pool, self.pool, self.instance_id, now, self.vendor_id)
            if pool.iat < self.trust_pools_from:
                raise Refused(
                    "this pool was issued before the instance was re-registered on this machine;"
                    " import the pool the vendor issues for the new registration",
                    code="POOL_BEFORE_REBIND",
                )
            progress(f"applying {len(pool.licenses)} licenses", 0, None)
            summary = await self._apply_pool(pool, raw, now, ack_event)
            log.info(
                "pool import: applied",
                extra=fields(
                    seq=summary.seq,
                    licenses=summary.licenses,
                    added=summary.added,
                    changed=summary.changed,
                    removed=summary.removed,
                    sessions_ended=summary.sessions_ended,
                    seconds=round(time.monotonic() - verified, 3),
                    total_seconds=round(time.monotonic() - started, 3),
                ),
            )
            return summary

    async def _apply_pool(
        self, pool: Pool, raw: str, now: float, ack_event: int | None
    ) -> PoolSummary:
        self.store.check_writable()  # nothing below awaits until the records are queued
        out: list[Record] = [
            SavePool(pool.seq, pool.iat, pool.exp, pool.org_id, pool.ack_usage_seq, now, raw)
        ]
        if ack_event is not None and ack_event > self.ack_event_id:
            # The vendor confirmed reading every event up to here: prune them (§2 rule 7).
            self.ack_event_id = ack_event
            out.append(PruneEvents(ack_event))
            out.append(SetMeta(ACK_EVENT_KEY, str(ack_event)))
            out.append(SetMeta(ACK_SEQ_KEY, str(pool.ack_usage_seq)))
        new_licenses = {lic.token: lic for lic in pool.licenses}
        added = changed = removed = ended = 0
        for token, state in list(self.licenses.items()):
            lic = new_licenses.get(token)
            if lic is None or lic.status in ENDING_STATUSES:
                for session in list(state.sessions.values()):
                    self._end(state, session, EndReason.REVOKED, now, out)
                    ended += 1
            if lic is None:
                removed += 1
                self.retired[token] = self.licenses.pop(token).carry()
        for token, lic in new_licenses.items():
            known = self.licenses.get(token)
            if known is None:
                added += 1
                known = self.licenses[token] = LicenseState(license=lic)
                carry = self.retired.pop(token, None)
                if carry is not None:
                    known.restore(carry)
            elif known.license != lic:
                changed += 1
                known.license = lic
            known.refresh_views()
        self.floor = max(self.floor, float(pool.iat))
        out.append(SetMeta(FLOOR_KEY, repr(self.floor)))
        summary = PoolSummary(
            seq=pool.seq,
            issued_at=float(pool.iat),
            expires_at=float(pool.exp),
            licenses=len(new_licenses),
            added=added,
            changed=changed,
            removed=removed,
            sessions_ended=ended,
        )
        out.append(pool_imported_event(summary, pool, now))
        self.pool = pool
        self.pool_exp = float(pool.exp)
        self.pool_imported_at = now
        self.policy_seats.rebuild(self.licenses)  # new seats, licenses, ids for the rules
        # Until its write commits the database still holds the previous pool: keep both.
        self.verified_pools[pool.seq] = pool
        await self._commit(out)
        self.verified_pools = {pool.seq: pool}
        self.queues.everything_changed()
        return summary

    # -- usage files ------------------------------------------------------------------

    async def export_usage(self) -> tuple[UsageReport, str]:
        """A new sealed usage file with every event after the vendor's last acknowledgement."""
        async with self._export_lock:  # one seq per file, also while sealing runs
            self.store.check_writable()
            events = tuple(await self.store.events_after(self.ack_event_id))
            head = events[-1].hash if events else (await self.store.chain_head())[1]
            now = self._observe_clock()
            live: dict[str, int] = {}
            for session in self.by_id.values():
                if session.expires_at > now:
                    live[session.license] = live.get(session.license, 0) + 1
            report = UsageReport(
                seq=self.usage_seq + 1,
                pool_seq=self.pool.seq if self.pool else 0,
                issued_at=now,
                events=events,
                chain_head=head,
                licenses=tuple(
                    license_usage(
                        s, live.get(t, 0) + sum(1 for a in s.offline.values() if a.live(now))
                    )
                    for t, s in self.licenses.items()
                ),
                tampered=self.tampered,
                floor=self.floor,
            )
            token = await asyncio.to_thread(self.sealer.seal_usage, report)
            last_id = events[-1].id if events else self.ack_event_id
            # Memory changes only now, in the tick the records are queued.
            self.store.check_writable()
            self.usage_seq = report.seq
            await self._commit(
                [
                    SetMeta(USAGE_SEQ_KEY, str(report.seq)),
                    RecordExport(report.seq, last_id, head, now),
                    AppendEvent(at=now, type="usage.exported", data={"seq": report.seq}),
                ]
            )
            self.last_usage_export = now
            return report, token

    # -- admin actions on bindings and locks ----------------------------------------------

    def _state(self, token: str) -> LicenseState:
        state = self.licenses.get(token)
        if state is None:
            raise NotFound(f"no license {token!r} on this server")
        return state

    async def dissociate(self, token: str, auth_context: str | None) -> str:
        """Free a node-locked license's binding (and end that machine's session)."""
        state = self._state(token)
        bound = state.bound_context
        if bound is None:
            raise Refused(f"license {token} is not bound to any machine", code="NOT_BOUND")
        if auth_context is not None and auth_context != bound:
            raise Refused(
                f"license {token} is bound to another authContext, not {auth_context!r}",
                code="NOT_BOUND",
            )
        now = self.clock.now()
        self.store.check_writable()
        out: list[Record] = []
        session = state.sessions.get(bound)
        if session is not None:
            self._end(state, session, EndReason.ADMIN, now, out)
        state.bound_context = None
        out.append(flags_record(state))
        out.append(
            AppendEvent(at=now, type="license.dissociated", license=token, auth_context=bound)
        )
        await self._commit(out)
        return bound

    async def unlock(self, token: str) -> None:
        """Lift a misuse lock; the count of machines starts afresh."""
        state = self._state(token)
        if state.locked_at is None:
            raise Refused(f"license {token} is not locked", code="NOT_LOCKED")
        self.store.check_writable()
        state.locked_at = None
        state.seen.clear()
        state.noted.clear()
        now = self.clock.now()
        # The misuse job counts only contexts seen after the newest `license.unlocked`.
        await self._commit(
            [
                flags_record(state),
                ForgetContexts(token),
                AppendEvent(at=now, type="license.unlocked", license=token),
            ]
        )

    async def release_environment(self, auth_context: str) -> str:
        """Release an environment from the organisation that bound it."""
        if auth_context not in self.environments:
            raise NotFound(f"environment {auth_context!r} is not bound to any organisation")
        self.store.check_writable()
        org = self.environments.pop(auth_context)
        await self._commit(
            [
                ReleaseEnvironment(auth_context),
                AppendEvent(
                    at=self.clock.now(),
                    type="environment.released",
                    auth_context=auth_context,
                    data={"orgId": org},
                ),
            ]
        )
        return org

    async def record_event(self, type_: str, data: dict[str, object]) -> None:
        """Audit something no licensing rule produced (e.g. an address throttled for
        wrong admin tokens); callers bound how often, this writes one event."""
        await self._commit([AppendEvent(at=self.clock.now(), type=type_, data=data)])

    async def detect_misuse(self) -> list[str]:
        """The scheduled check: lock licenses whose recent sessions or validates came from too
        many machines. It first writes the contexts validate noted since its last run (in
        transactions of up to NOTED_BATCH rows), so they count after a restart too."""
        if not self.store.writable:
            return []  # what validate noted stays noted for the next run
        now = self.clock.now()
        batches = take_noted(self.licenses, now)
        for i, batch in enumerate(batches):
            try:
                await self._commit(batch)
            except StorageError:
                self._note_again(batches[i:])  # not written: the next run writes them
                raise
        watched = [s for s in self.licenses.values() if s.license.misuse and s.locked_at is None]
        if not watched:
            return []
        longest = max(s.license.misuse.window_s for s in watched if s.license.misuse)
        seen = await self.store.contexts_seen(since=now - longest)
        try:
            self.store.check_writable()  # a write failed meanwhile: the next run counts again
        except StorageError:
            return []
        out: list[Record] = []
        locked = lock_overused(watched, seen, now, out)
        await self._commit(out)
        return locked

    def _note_again(self, batches: list[list[Record]]) -> None:
        for batch in batches:
            for record in batch:
                if isinstance(record, NoteContexts):
                    for token, ctx, at in record.seen:
                        state = self.licenses.get(token)
                        if state is not None:
                            state.noted[ctx] = max(at, state.noted.get(ctx, 0.0))
