"""The licensing facade: what the HTTP handlers, jobs and CLI call.

Each call runs one rule over the LicensingState (domain.sessions, features, offline,
pools, usage, admin, housekeeping, loading), commits the records it returned through
the store's group-commit writer and answers only once they are durable. The read
methods at the end are all that the admin API, /readyz, /metrics and the dashboard see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Unpack

from lls.clock import Clock
from lls.domain import admin, features, housekeeping, loading, offline, pools, sessions, usage
from lls.domain.borrowing import BorrowAsk, BorrowOutcome, borrow_return, borrow_seat
from lls.domain.checks import observe_clock, tamper_records
from lls.domain.history import HistoryBook, commit_noted, send_history
from lls.domain.history_series import HistoryQuery, Point, series
from lls.domain.misuse import take_noted
from lls.domain.models import (
    AuditEvent,
    AuthStatus,
    ClientInfo,
    FeatureOutcome,
    License,
    OfflineActivation,
    OfflineGrant,
    Outcome,
    PoolSummary,
    Reason,
    Session,
)
from lls.domain.ports import AuditQuery, OfflineCodec, PoolImport, PoolReader, Store, UsageFile
from lls.domain.reads import MetricsView, ServerStatus, ready_problems, status, take_metrics_view
from lls.domain.records import AppendEvent, Record
from lls.domain.state import LicenseState, LicensingState
from lls.domain.usage import UsageReport, UsageSealer
from lls.domain.views import ReadState
from lls.errors import NotFound, StorageError
from lls.progress import ProgressHook, quiet

log = logging.getLogger(__name__)


class Licensing:
    """The one facade over the licensing state and rules."""

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
        self.store, self.reader, self.codec, self.sealer = store, reader, codec, sealer
        self.clock, self.instance_id = clock, instance_id
        self.state = LicensingState(store, instance_id, vendor_id, trust_pools_from)
        self._import_lock = asyncio.Lock()
        self._export_lock = asyncio.Lock()
        self.history = HistoryBook()  # usage per license and hour (lls.domain.history)
        store.set_rebuild(self.rebuild)  # after a failed write the writer rebuilds memory

    async def _commit(self, out: Sequence[Record]) -> None:
        """Commit a rule's records; the usage history notes them and its changed buckets
        ride along when their turn has come (no write of its own: domain.history)."""
        if out:
            await commit_noted(self.store, self.history, self.state.licenses, out, self.clock.now())

    def _noted(self, token: str, outcome: Outcome | FeatureOutcome) -> None:
        """A refusal of a license's call counts in its history (denials by reason)."""
        if outcome.reason is not None:
            self.history.refused(self.state.licenses, token, outcome.reason, self.clock.now())

    async def _decided(self, outcome: Outcome | FeatureOutcome, out: list[Record]) -> None:
        if outcome.reason is Reason.CLOCK_TAMPERED:
            await self._record_tamper()
        await self._commit(out)

    async def _record_tamper(self) -> None:
        """One `clock.tampered` event per episode; a failed write leaves it to a later call."""
        try:
            await self._commit(tamper_records(self.state, self.clock.now()))
        except StorageError:
            self.state.tamper_recorded = False

    # -- client calls (api.md §3, §4) -----------------------------------------------------

    async def validate(
        self, token: str, product_codes: Sequence[str] | None, auth_context: str | None
    ) -> Outcome:
        outcome, out = sessions.validate(
            self.state, token, product_codes, auth_context, self.clock.now()
        )
        self._noted(token, outcome)
        with contextlib.suppress(StorageError):  # memory was rebuilt; answer from it
            await self._commit(out)
        if outcome.status is AuthStatus.SUCCESS:
            await self.store.barrier()  # a session it reports must be durable
        return outcome

    async def activate(
        self,
        token: str,
        product_codes: Sequence[str],
        auth_context: str,
        *,
        client_address: str | None = None,
        client_info: ClientInfo | None = None,
    ) -> Outcome:
        now = self.clock.now()
        outcome, out = sessions.activate(
            self.state, token, product_codes, auth_context, now,
            client_address=client_address, client_info=client_info,
        )  # fmt: skip
        self._noted(token, outcome)
        await self._decided(outcome, out)
        return outcome

    async def extend(
        self,
        token: str,
        product_codes: Sequence[str],
        auth_context: str,
        *,
        client_address: str | None = None,
        client_info: ClientInfo | None = None,
    ) -> Outcome:
        now = self.clock.now()
        outcome, out = sessions.extend(
            self.state, token, product_codes, auth_context, now,
            client_address=client_address, client_info=client_info,
        )  # fmt: skip
        self._noted(token, outcome)
        await self._decided(outcome, out)
        return outcome

    async def deactivate(self, token: str, auth_context: str, *, borrowed: bool = False) -> Outcome:
        rule = borrow_return if borrowed else sessions.deactivate  # borrowed: the borrow's return
        outcome, out = rule(self.state, token, auth_context, self.clock.now())
        await self._commit(out)
        return outcome

    async def checkout(
        self, token: str, auth_context: str, code: str, quantity: int
    ) -> FeatureOutcome:
        now = self.clock.now()
        outcome, out = features.checkout(self.state, token, auth_context, code, quantity, now)
        self._noted(token, outcome)
        await self._decided(outcome, out)
        return outcome

    async def return_units(
        self, token: str, auth_context: str, code: str, quantity: int
    ) -> FeatureOutcome:
        now = self.clock.now()
        outcome, out = features.return_units(self.state, token, auth_context, code, quantity, now)
        self._noted(token, outcome)
        await self._commit(out)
        return outcome

    # -- offline activation (sync-format §4) ----------------------------------------------

    async def offline_activate(self, token: str) -> OfflineGrant:
        request = await asyncio.to_thread(self.codec.open_request, token)
        offline.request_license(self.state, request)  # before the clock is read
        now = observe_clock(self.state, self.clock.now())
        await self._record_tamper()
        try:
            grant, out = offline.offline_activate(self.state, self.codec, request, now)
        except offline.RefusalWithRecords as refusal:
            await self._commit(refusal.out)
            raise refusal.refused from None
        await self._commit(out)
        return grant

    async def offline_refresh(self, activation_id: str) -> OfflineGrant:
        offline.refresh_target(self.state, activation_id)  # before the clock is read
        now = observe_clock(self.state, self.clock.now())
        await self._record_tamper()
        grant, out = offline.offline_refresh(self.state, self.codec, activation_id, now)
        await self._commit(out)
        return grant

    async def offline_deactivate(self, token: str) -> OfflineActivation:
        keys = offline.device_keys(self.state)
        doc = await asyncio.to_thread(self.codec.open_deactivation, token, keys)
        activation, out = offline.offline_deactivate(self.state, doc, self.clock.now())
        await self._commit(out)
        return activation

    # -- pools and usage files (sync-format §2, §3) ---------------------------------------

    async def import_pool(self, raw: str, *, progress: ProgressHook = quiet) -> PoolSummary:
        """Verify and apply a pool file, all or nothing; every refusal leaves state as it was."""
        async with self._import_lock:
            started = time.monotonic()
            pools.log_started(raw, progress)
            pool = await asyncio.to_thread(self.reader.read, raw)
            verified = pools.log_verified(pool, started)
            ack_event = await self.store.export_point(pool.ack_usage_seq)
            now = observe_clock(self.state, self.clock.now())
            pools.admit_pool(self.state, pool, now)
            progress(f"applying {len(pool.licenses)} licenses", 0, None)
            summary, out = pools.apply_pool(self.state, pool, raw, now, ack_event)
            await self._commit(out)
            self.state.verified_pools = {pool.seq: pool}
            pools.log_applied(summary, started, verified)
            return summary

    async def export_usage(self) -> tuple[UsageReport, str]:
        """A new sealed usage file with every event after the vendor's last acknowledgement."""
        async with self._export_lock:  # one seq per file, also while sealing runs
            self.store.check_writable()
            events = tuple(await self.store.events_after(self.state.ack_event_id))
            head = events[-1].hash if events else (await self.store.chain_head())[1]
            report = usage.usage_report(self.state, events, head, self.clock.now())
            token = await asyncio.to_thread(self.sealer.seal_usage, report)
            await self._commit(usage.usage_exported(self.state, report))
            self.state.last_usage_export = report.issued_at
            return report, token

    # -- memory from the database ---------------------------------------------------------

    async def load(self) -> None:
        """Rebuild memory from the database at start; the stored pool is verified again."""
        self.state.verified_pools = {}
        snap = await self.store.snapshot()
        pool = await loading.stored_pool(self.state, self.reader, snap)
        out = loading.restore(self.state, snap, pool, self.clock.now(), tidy=True)
        self.history.restore(snap.history, snap.history_denied, self.clock.now())
        await self._commit(out)

    async def rebuild(self) -> None:
        """After a failed write: memory becomes what the database holds; writes nothing."""
        known = self.state.verified_pools.keys()
        snap = await self.store.snapshot(wait=False, known_pools=known)
        pool = await loading.stored_pool(self.state, self.reader, snap)
        loading.restore(self.state, snap, pool, self.clock.now(), tidy=False)
        self.history.restore(snap.history, snap.history_denied, self.clock.now())
        log.warning("memory rebuilt from the database after a failed write")

    # -- jobs and admin actions -----------------------------------------------------------

    async def expire_due(self) -> int:
        ended, out = housekeeping.expire_due(self.state, self.clock.now())
        await self._commit(out)
        return ended

    async def persist_floor(self) -> None:
        """Persist the trusted-time floor, and record a clock turned back even when no
        request noticed it yet."""
        observe_clock(self.state, self.clock.now())
        await self._record_tamper()
        self.store.check_writable()
        await self._commit(housekeeping.floor_records(self.state))

    async def detect_misuse(self) -> list[str]:
        """Write what validate noted (in batches), then lock licenses seen from too many
        machines within their window."""
        if not self.store.writable:
            return []  # what validate noted stays noted for the next run
        now = self.clock.now()
        batches = take_noted(self.state.licenses, now)
        for i, batch in enumerate(batches):
            try:
                await self._commit(batch)
            except StorageError:
                housekeeping.note_again(self.state, batches[i:])  # the next run writes them
                raise
        watched = housekeeping.watched(self.state)
        if not watched:
            return []
        longest = max(s.license.misuse.window_s for s in watched if s.license.misuse)
        seen = await self.store.contexts_seen(since=now - longest)
        try:
            self.store.check_writable()  # a write failed meanwhile: the next run counts again
        except StorageError:
            return []
        locked, out = housekeeping.judge_misuse(watched, seen, now)
        await self._commit(out)
        return locked

    async def dissociate(self, token: str, auth_context: str | None) -> str:
        bound, out = admin.dissociate(self.state, token, auth_context, self.clock.now())
        await self._commit(out)
        return bound

    async def unlock(self, token: str) -> None:
        await self._commit(admin.unlock(self.state, token, self.clock.now()))

    async def release_environment(self, auth_context: str) -> str:
        org, out = admin.release_environment(self.state, auth_context, self.clock.now())
        await self._commit(out)
        return org

    async def borrow(self, ask: BorrowAsk) -> BorrowOutcome:  # api.md §3, domain.borrowing
        result, out = borrow_seat(self.state, self.codec, ask, self.clock.now())
        await self._decided(result.outcome, out)  # durable before the answer
        return result

    async def end_session(self, session_id: str) -> Session | OfflineActivation:
        session, out = admin.end_session(self.state, session_id, self.clock.now())
        await self._commit(out)
        return session

    async def end_expired(self, token: str | None = None) -> None:
        """Before an admin view: end the expired sessions of `token` (every license: None)."""
        with contextlib.suppress(StorageError):  # memory was rebuilt; the view shows it
            await self._commit(housekeeping.end_expired(self.state, token, self.clock.now()))

    async def flush_history(self, *, force: bool = False) -> None:
        """Open a new hour when one began, write the changed buckets (the sweep job; `force`:
        at a clean stop, so nothing of the open hour is lost)."""
        now, writable = self.clock.now(), self.store.writable
        if records := self.history.due(self.state.licenses, now, force=force, writable=writable):
            await send_history(self.store, self.history, records)

    def keep_history(self, days: int) -> None:
        self.history.keep(days)  # history.retention_days, at start and on a reload

    async def record_event(self, type_: str, data: dict[str, object]) -> None:
        """Audit something no rule produced (callers bound how often)."""
        await self._commit([AppendEvent(at=self.clock.now(), type=type_, data=data)])

    # -- reads: all the admin API, /readyz, /metrics and the dashboard see ----------------

    def now(self) -> float:
        return self.clock.now()

    def ready(self) -> list[str]:
        """Why licensing calls cannot be served now; empty when ready."""
        return ready_problems(self.state, self.clock.now())

    def status(self) -> ServerStatus:
        return status(self.state, self.clock.now())

    def view(self) -> ReadState:
        """The state, read-only, for the read model (domain.views, overview, license_index)."""
        return self.state

    def license(self, token: str) -> License | None:
        state = self.state.licenses.get(token)
        return state.license if state is not None else None

    async def licenses(self, token: str | None = None) -> Mapping[str, LicenseState]:
        """The licenses, after ending the expired sessions of `token` (all when None)."""
        await self.end_expired(token)
        return self.state.licenses

    async def sessions(self, token: str | None = None) -> list[Session]:
        """Live sessions, after ending the expired ones of `token` (all when None)."""
        await self.end_expired(token)
        return self.live_sessions()

    def live_sessions(self) -> list[Session]:
        now = self.clock.now()
        return [s for s in self.state.by_id.values() if s.expires_at > now]

    def environments(self) -> Mapping[str, str]:
        return self.state.environments

    def metrics_view(self) -> MetricsView:
        """For a scrape; takes the set of changed licenses (the next scrape starts afresh)."""
        return take_metrics_view(self.state, self.clock.now())

    async def audit(
        self, *, after: int, limit: int, **query: Unpack[AuditQuery]
    ) -> list[AuditEvent]:
        """Audit events by id range, time and type (see Store.audit)."""
        return await self.store.audit(after=after, limit=limit, **query)

    async def chain_head(self) -> tuple[int, str | None]:
        return await self.store.chain_head()

    async def license_history(self, token: str, query: HistoryQuery) -> list[Point]:
        """Stored history with the buckets in memory over it (also of a retired license)."""
        if token not in self.state.licenses and token not in self.state.retired:
            raise NotFound("no such license on this server")
        stored = await self.store.history(token, start=query.start, end=query.end)
        return series([*stored, *self.history.open_rows(token)], query.start, query.end,
                      step=query.step)  # fmt: skip

    def denials_today(self) -> dict[str, int]:
        return self.history.denied_today(self.clock.now())  # all licenses, since 00:00 UTC

    async def pool_imports(self, limit: int) -> list[PoolImport]:
        return await self.store.pool_imports(limit=limit)  # newest first

    async def usage_files(self, limit: int) -> list[UsageFile]:
        return await self.store.usage_files(limit=limit)  # newest first
