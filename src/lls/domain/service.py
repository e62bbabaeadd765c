"""The licensing facade: what the HTTP handlers, jobs and CLI call.

Each call runs one rule over the LicensingState (domain.sessions, features, offline,
borrowing, pools, usage, admin), commits the records it returned through the store's
group-commit writer (domain.committer) and answers only once they are durable. The
server's own work is `upkeep` (memory from the database, the jobs' steps:
domain.upkeep); everything the admin API, /readyz, /metrics and the dashboard read
is `reads` (domain.read_side).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from lls.clock import Clock
from lls.domain import admin, features, offline, pools, sessions, usage
from lls.domain.borrowing import BorrowAsk, BorrowOutcome, borrow_return, borrow_seat
from lls.domain.checks import observe_clock
from lls.domain.committer import Committer
from lls.domain.models import (
    AuthStatus,
    ClientInfo,
    FeatureOutcome,
    OfflineActivation,
    OfflineGrant,
    Outcome,
    PoolSummary,
    Session,
)
from lls.domain.ports import OfflineCodec, PoolReader, Store
from lls.domain.read_side import Reads
from lls.domain.records import AppendEvent
from lls.domain.state import LicensingState
from lls.domain.upkeep import Upkeep
from lls.domain.usage import UsageReport, UsageSealer
from lls.errors import StorageError
from lls.progress import ProgressHook, quiet


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
        self._import_lock, self._export_lock = asyncio.Lock(), asyncio.Lock()
        self.committer = commit = Committer(self.state, store, clock)
        self.history, self.waits = commit.history, commit.waits
        self.upkeep = Upkeep(self.state, store, reader, clock, commit)
        self.reads = Reads(self.state, store, clock, commit)

    def now(self) -> float:
        return self.clock.now()

    # -- client calls (api.md §3, §4) -----------------------------------------------------

    async def validate(
        self, token: str, product_codes: Sequence[str] | None, auth_context: str | None
    ) -> Outcome:
        outcome, out = sessions.validate(
            self.state, token, product_codes, auth_context, self.clock.now()
        )
        self.committer.noted(token, outcome)
        with contextlib.suppress(StorageError):  # memory was rebuilt; answer from it
            await self.committer.commit(out)
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
        wait_s: float = 0.0,
    ) -> Outcome:
        """sessions.activate; with `wait_s`, the queue for the last seat (domain.waits)."""
        return await self.waits.activate(token, product_codes, auth_context, wait_s,
                                         client_address, client_info)  # fmt: skip

    async def extend(
        self,
        token: str,
        product_codes: Sequence[str],
        auth_context: str,
        *,
        client_address: str | None = None,
        client_info: ClientInfo | None = None,
    ) -> Outcome:
        outcome, out = sessions.extend(
            self.state, token, product_codes, auth_context, self.clock.now(),
            client_address=client_address, client_info=client_info,
        )  # fmt: skip
        self.committer.noted(token, outcome)
        await self.committer.decided(outcome, out)
        return outcome

    async def deactivate(self, token: str, auth_context: str, *, borrowed: bool = False) -> Outcome:
        rule = borrow_return if borrowed else sessions.deactivate  # borrowed: the borrow's return
        outcome, out = rule(self.state, token, auth_context, self.clock.now())
        await self.committer.commit(out)
        return outcome

    async def checkout(
        self, token: str, auth_context: str, code: str, quantity: int
    ) -> FeatureOutcome:
        now = self.clock.now()
        outcome, out = features.checkout(self.state, token, auth_context, code, quantity, now)
        self.committer.noted(token, outcome)
        await self.committer.decided(outcome, out)
        return outcome

    async def return_units(
        self, token: str, auth_context: str, code: str, quantity: int
    ) -> FeatureOutcome:
        now = self.clock.now()
        outcome, out = features.return_units(self.state, token, auth_context, code, quantity, now)
        self.committer.noted(token, outcome)
        await self.committer.commit(out)
        return outcome

    async def borrow(self, ask: BorrowAsk) -> BorrowOutcome:  # api.md §3, domain.borrowing
        result, out = borrow_seat(self.state, self.codec, ask, self.clock.now())
        await self.committer.decided(result.outcome, out)  # durable before the answer
        return result

    # -- offline activation (sync-format §4) ----------------------------------------------

    async def offline_activate(self, token: str) -> OfflineGrant:
        request = await asyncio.to_thread(self.codec.open_request, token)
        offline.request_license(self.state, request)  # before the clock is read
        now = observe_clock(self.state, self.clock.now())
        await self.committer.record_tamper()
        try:
            grant, out = offline.offline_activate(self.state, self.codec, request, now)
        except offline.RefusalWithRecords as refusal:
            await self.committer.commit(refusal.out)
            raise refusal.refused from None
        await self.committer.commit(out)
        return grant

    async def offline_refresh(self, activation_id: str) -> OfflineGrant:
        offline.refresh_target(self.state, activation_id)  # before the clock is read
        now = observe_clock(self.state, self.clock.now())
        await self.committer.record_tamper()
        grant, out = offline.offline_refresh(self.state, self.codec, activation_id, now)
        await self.committer.commit(out)
        return grant

    async def offline_deactivate(self, token: str) -> OfflineActivation:
        keys = offline.device_keys(self.state)
        doc = await asyncio.to_thread(self.codec.open_deactivation, token, keys)
        activation, out = offline.offline_deactivate(self.state, doc, self.clock.now())
        await self.committer.commit(out)
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
            await self.committer.commit(out)
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
            await self.committer.commit(usage.usage_exported(self.state, report))
            self.state.last_usage_export = report.issued_at
            return report, token

    # -- admin actions (api.md §5) --------------------------------------------------------

    async def dissociate(self, token: str, auth_context: str | None) -> str:
        bound, out = admin.dissociate(self.state, token, auth_context, self.clock.now())
        await self.committer.commit(out)
        return bound

    async def unlock(self, token: str) -> None:
        await self.committer.commit(admin.unlock(self.state, token, self.clock.now()))

    async def release_environment(self, auth_context: str) -> str:
        org, out = admin.release_environment(self.state, auth_context, self.clock.now())
        await self.committer.commit(out)
        return org

    async def end_session(self, session_id: str) -> Session | OfflineActivation:
        session, out = admin.end_session(self.state, session_id, self.clock.now())
        await self.committer.commit(out)
        return session

    async def record_event(self, type_: str, data: dict[str, object]) -> None:
        """Audit something no rule produced (callers bound how often)."""
        await self.committer.commit([AppendEvent(at=self.clock.now(), type=type_, data=data)])
