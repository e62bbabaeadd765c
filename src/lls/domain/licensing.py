"""Session rules of api.md §3: validate, activate, extend, deactivate, expiry, admin end.

Every decision is taken synchronously on the event loop against in-memory
state (so two activates for the last seat cannot both win), its write records
are queued to the store, and the caller gets its answer only after they commit.
A rule that changes anything first calls `store.check_writable()`, in the same
tick as its decision: while a failed write is being undone (lls.store.writer)
it is refused with StorageError before it touches memory.

A session whose window has passed ends when a request meets it — its seat and
its floating units at once, with one `session.ended` (reason `expired`); the
sweep only tidies up what nobody asked about.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
from collections.abc import Awaitable, Sequence

from lls.clock import Clock, rfc3339
from lls.domain.bindings import bind_on_start, check_bindings, note_context
from lls.domain.misuse import note_validated
from lls.domain.models import (
    CLOCK_SKEW_S,
    MESSAGES,
    ORDER_LOCKED_MESSAGE,
    TRIAL_EXPIRED_MESSAGE,
    AuthStatus,
    ClientInfo,
    EndReason,
    License,
    Outcome,
    Reason,
    Session,
)
from lls.domain.policy import Policy, PolicyRefusal
from lls.domain.policy_seats import PolicySeats
from lls.domain.ports import Store
from lls.domain.records import (
    AppendEvent,
    EndSession,
    Record,
    SetPeak,
    SetSessionClient,
    StartSession,
    TouchSession,
)
from lls.domain.seat_queue import Blocked, SeatQueues
from lls.domain.state import LicenseState
from lls.errors import StorageError

NOT_FOUND = Outcome(
    status=AuthStatus.FAILED,
    reason=Reason.LICENSE_NOT_FOUND,
    message=MESSAGES[Reason.LICENSE_NOT_FOUND],
)


class _SessionIds:
    """Unique session ids without a system call each: a random prefix per process plus a
    counter. Ids are only ever shown to admins, so they need to be unique, not secret;
    the prefix keeps them unique across restarts of the same database."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._next = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._next):08x}"


new_session_id = _SessionIds()


class Sessions:
    """The session half of the rules; features, bindings and pool import build on it."""

    def __init__(self, *, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.licenses: dict[str, LicenseState] = {}
        self.by_id: dict[str, Session] = {}
        self.environments: dict[str, str] = {}  # authContext -> org that bound it
        self.pool_exp: float | None = None
        self.floor: float = 0.0  # trusted-time floor (sync-format §5), raised by clock and pools
        self.tampered = False
        self._tamper_recorded = False
        # Licenses whose seat or feature figures changed since /metrics last looked: it
        # renders only those again (O(1) here, bounded by the pool's size).
        self.changed: set[str] = set()
        # The seat policy in force (policy.file) with what each group holds, and the queue
        # for the last seat (`waitSeconds`); `_freed` are licenses with waiters where a seat
        # may have freed in this step: `_commit` wakes their queues before it awaits.
        self.policy_seats = PolicySeats()
        self.queues: SeatQueues[Outcome] = SeatQueues(clock, self._next_free_at)
        self._freed: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    # -- checks shared by every call ----------------------------------------------------

    def _observe_clock(self) -> float:
        """Read the clock, raise the floor, note a rollback (more than 5 min below the floor)."""
        now = self.clock.now()
        if now > self.floor:
            self.floor = now
            self.tampered = self._tamper_recorded = False
        else:
            self.tampered = now < self.floor - CLOCK_SKEW_S
        return now

    async def _record_tamper(self) -> None:
        """Record a `clock.tampered` event once per episode of a clock below the floor."""
        if self.tampered and not self._tamper_recorded and self.store.writable:
            self._tamper_recorded = True
            now = self.clock.now()
            try:
                await self._commit(
                    [
                        AppendEvent(
                            at=now,
                            type="clock.tampered",
                            data={"clock": rfc3339(now), "floor": rfc3339(self.floor)},
                        )
                    ]
                )
            except StorageError:  # the refusal stands; a later call records the episode
                self._tamper_recorded = False

    async def _clock_refusal(self, state: LicenseState) -> Outcome:
        await self._record_tamper()
        return self._refuse(state, Reason.CLOCK_TAMPERED)

    def _refuse(self, state: LicenseState, reason: Reason, message: str | None = None) -> Outcome:
        status = AuthStatus.LOCKED if reason is Reason.LICENSE_LOCKED else AuthStatus.FAILED
        return Outcome(
            status=status,
            reason=reason,
            message=message or MESSAGES[reason],
            license=state.license,
            license_expires_at=state.expires_at(),
            features=state.features_view,
        )

    def _check(
        self, state: LicenseState, product_codes: Sequence[str] | None, now: float
    ) -> tuple[Outcome | None, str | None]:
        """The license-level checks of api.md §2; returns (refusal or None, echoed product code)."""
        lic = state.license
        if lic.status == "locked":  # the vendor locked the order: its own words
            return self._refuse(state, Reason.LICENSE_LOCKED, ORDER_LOCKED_MESSAGE), None
        if state.locked_at is not None:
            return self._refuse(state, Reason.LICENSE_LOCKED), None
        if self.pool_exp is not None and now >= self.pool_exp:
            return self._refuse(state, Reason.POOL_EXPIRED), None
        if lic.status == "revoked":
            return self._refuse(state, Reason.LICENSE_REVOKED), None
        if lic.status == "suspended":
            return self._refuse(state, Reason.LICENSE_SUSPENDED), None
        product = _covered(lic, product_codes)
        if product is None:
            return self._refuse(state, Reason.PRODUCT_MISMATCH), None
        if lic.valid_from is not None and now < lic.valid_from:
            return self._refuse(state, Reason.LICENSE_NOT_YET_VALID), None
        expires = state.expires_at()
        if expires is not None and now >= expires:
            message = TRIAL_EXPIRED_MESSAGE if lic.is_trial else None
            return self._refuse(state, Reason.LICENSE_EXPIRED, message), None
        return None, product

    def _success(
        self, state: LicenseState, product: str | None, session: Session | None
    ) -> Outcome:
        return Outcome(
            status=AuthStatus.SUCCESS,
            license=state.license,
            product_code=product,
            session_expires_at=session.expires_at if session is not None else None,
            license_expires_at=state.expires_at(),
            features=state.features_view,
        )

    def _live(
        self, state: LicenseState, auth_context: str, now: float, out: list[Record]
    ) -> Session | None:
        """The live session of `auth_context`, ending it first if its window has passed."""
        session = state.sessions.get(auth_context)
        if session is not None and session.expires_at <= now:
            self._end(state, session, EndReason.EXPIRED, now, out)
            return None
        return session

    def _end(
        self,
        state: LicenseState,
        session: Session,
        reason: EndReason,
        now: float,
        out: list[Record],
    ) -> None:
        """End a session: free its seat and return every feature unit it held."""
        del state.sessions[session.auth_context]
        self.by_id.pop(session.id, None)
        self.changed.add(session.license)
        held = state.held.pop(session.id, None)
        self.policy_seats.ended(session, held)
        if self.queues.has_waiters(session.license):
            self._freed.add(session.license)
        if held:
            for code, quantity in held.items():
                state.in_use[code] = state.in_use.get(code, 0) - quantity
            state.refresh_views()
        out.append(EndSession(session.id))  # the store drops its checkouts with it
        out.append(
            AppendEvent(
                at=now,
                type="session.ended",
                license=session.license,
                auth_context=session.auth_context,
                data={"sessionId": session.id, "reason": reason.value, "returned": held or {}},
            )
        )

    def _seats_used(self, state: LicenseState, now: float) -> int:
        """Seats held: live sessions plus offline leases not yet over."""
        used = len(state.sessions)
        if state.offline:
            used += sum(1 for a in state.offline.values() if a.live(now))
        return used

    def _purge_expired(self, state: LicenseState, now: float, out: list[Record]) -> None:
        for session in [s for s in state.sessions.values() if s.expires_at <= now]:
            self._end(state, session, EndReason.EXPIRED, now, out)

    def _free_others_units(
        self, state: LicenseState, own: Session | None, now: float, out: list[Record]
    ) -> None:
        """Before an answer that reports the license's units: end the expired sessions that
        still hold some. On the hot path this is a length check: usually no other session
        holds units of the license."""
        if len(state.held) > (own is not None and own.id in state.held):
            self._purge_expired_holders(state, now, out)

    def _purge_expired_holders(self, state: LicenseState, now: float, out: list[Record]) -> None:
        """End the expired sessions that still hold floating units of this license (few:
        `state.held` has one entry per session that ever checked out)."""
        by_id = self.by_id
        expired = [
            s for sid in state.held if (s := by_id.get(sid)) is not None and s.expires_at <= now
        ]
        for session in expired:
            self._end(state, session, EndReason.EXPIRED, now, out)

    async def _free_expired_units(self, state: LicenseState, now: float) -> None:
        """On a read: end expired holders of this license's units, if writes are taken now
        (else the figures stay as the database has them, and a later request frees them)."""
        if not self.store.writable:
            return
        out: list[Record] = []
        self._purge_expired_holders(state, now, out)
        if out:
            with contextlib.suppress(StorageError):  # memory was rebuilt; answer from it
                await self._commit(out)

    # -- the four calls -----------------------------------------------------------------

    async def validate(
        self, token: str, product_codes: Sequence[str] | None, auth_context: str | None
    ) -> Outcome:
        """Stateless check (license, product, bindings); reports the caller's session expiry.
        An authContext given is noted in memory for misuse detection, never written here."""
        state = self.licenses.get(token)
        if state is None:
            return NOT_FOUND
        now = self._observe_clock()
        refusal, product = self._check(state, product_codes, now)
        if refusal is None and auth_context is not None:
            note_validated(state, auth_context, now)
            reason = check_bindings(state, auth_context, self.environments)
            refusal = self._refuse(state, reason) if reason is not None else None
        if refusal is not None:
            return refusal
        if state.held:  # it reports the license's features: free what expired sessions hold
            await self._free_expired_units(state, now)
        session = state.sessions.get(auth_context) if auth_context is not None else None
        if session is not None and session.expires_at <= now:
            session = None
        # A session this answer reports must be durable: wait for writes already queued.
        await self.store.barrier()
        return self._success(state, product, session)

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
        """Start a session, or refresh the caller's own; exactly one wins the last seat.

        `client_address` and `client_info` say who holds it (shown to admins only). With
        `wait_s` > 0 a caller that finds no seat for it waits in the license's queue (first
        in, first out) instead of being refused; it holds no seat and writes nothing meanwhile.
        """
        state = self.licenses.get(token)
        if state is None:
            return NOT_FOUND
        now = self._observe_clock()
        if self.tampered:
            return await self._clock_refusal(state)
        refusal, product = self._check(state, product_codes, now)
        if refusal is None:
            reason = check_bindings(state, auth_context, self.environments)
            refusal = self._refuse(state, reason) if reason is not None else None
        if refusal is not None:
            return refusal
        self.store.check_writable()
        out: list[Record] = []
        if note_context(state, auth_context, now, out):
            await self._commit(out)
            return self._refuse(state, Reason.LICENSE_LOCKED)
        if self.queues.has_waiters(token):  # a seat freed by the clock goes to them first
            self.queues.seat_freed(token)
        outcome = self._take_seat(
            state, product, auth_context, now, out, client_address, client_info
        )
        await self._commit(out)
        if wait_s <= 0 or not _may_wait(outcome):
            return outcome
        assert outcome.reason is not None and outcome.message is not None

        def attempt() -> Awaitable[Outcome] | Blocked:
            return self._queued_attempt(
                token, product_codes, auth_context, client_address, client_info
            )

        blocked = _blocked(outcome)
        result = await self.queues.wait(token, auth_context, wait_s, attempt, blocked=blocked)
        if result.answer is not None:
            return result.answer
        if result.full:
            return dataclasses.replace(outcome, waited=True)
        last = result.blocked or blocked
        state = self.licenses.get(token)
        if state is None:
            return NOT_FOUND
        refused = self._refuse(state, Reason(last.reason), last.message)
        return dataclasses.replace(refused, waited=True, queue_position=result.position)

    def _take_seat(
        self,
        state: LicenseState,
        product: str | None,
        auth_context: str,
        now: float,
        out: list[Record],
        client_address: str | None,
        client_info: ClientInfo | None,
    ) -> Outcome:
        """The synchronous step of an activate: refresh the caller's own session, or decide
        on a new seat — the policy and the seat count together — and start it."""
        lic = state.license
        session = self._live(state, auth_context, now, out)
        if session is not None:
            session.expires_at = now + lic.session_window_s
            out.append(TouchSession(session.id, session.expires_at))
            self._note_holder(state, session, client_address, client_info, out)
        else:
            used = self._seats_used(state, now)
            if used >= lic.seats:
                self._purge_expired(state, now, out)
                used = self._seats_used(state, now)
            denied = self.policy_seats.seat_refusal(state, auth_context, client_address, used, now)
            if denied is not None:
                return self._policy_refusal(state, denied)
            if used >= lic.seats:
                return self._refuse(state, Reason.SESSION_LIMIT_REACHED)
            session = self._start(state, auth_context, now, out, client_address, client_info)
        self._free_others_units(state, session, now, out)
        return self._success(state, product, session)

    def _policy_refusal(self, state: LicenseState, refusal: PolicyRefusal) -> Outcome:
        return self._refuse(state, Reason(refusal.reason.value), refusal.message)

    def _queued_attempt(
        self,
        token: str,
        product_codes: Sequence[str],
        auth_context: str,
        client_address: str | None,
        client_info: ClientInfo | None,
    ) -> Awaitable[Outcome] | Blocked:
        """A waiter's turn (run by the queue, synchronously, where a seat may have freed):
        the license checks again, then the same step as an activate; Blocked if no seat."""
        state = self.licenses.get(token)
        if state is None:
            return _ready(NOT_FOUND)
        now = self._observe_clock()
        if self.tampered:
            return self._clock_refusal(state)
        refusal, product = self._check(state, product_codes, now)
        if refusal is None:
            reason = check_bindings(state, auth_context, self.environments)
            refusal = self._refuse(state, reason) if reason is not None else None
        if refusal is not None:
            return _ready(refusal)
        self.store.check_writable()
        out: list[Record] = []
        outcome = self._take_seat(
            state, product, auth_context, now, out, client_address, client_info
        )
        if not outcome.ok and _may_wait(outcome):
            if out:  # it ended expired sessions on the way: those records are written
                self._commit_later(out)
            return _blocked(outcome)
        return self._answer_after(out, outcome)

    async def _answer_after(self, out: list[Record], outcome: Outcome) -> Outcome:
        await self._commit(out)
        return outcome

    def _commit_later(self, out: list[Record]) -> None:
        task = asyncio.get_running_loop().create_task(self._commit_quietly(out))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _commit_quietly(self, out: list[Record]) -> None:
        with contextlib.suppress(StorageError):  # memory was rebuilt from the database
            await self._commit(out)

    def _next_free_at(self, token: str) -> float | None:
        """When a seat of `token` frees by itself: the earliest session or lease end."""
        state = self.licenses.get(token)
        if state is None:
            return None
        ends = [s.expires_at for s in state.sessions.values()]  # an expired one: purged then
        if state.offline:  # a lease that ended stays listed: only those still to end count
            now = self.clock.now()
            ends += [a.lease_expires_at for a in state.offline.values() if a.live(now)]
        return min(ends, default=None)

    def set_policy(self, policy: Policy | None) -> None:
        """A new seat policy (start, reload): recount the groups, wake the queues. Live
        sessions all stay; only the next grant is governed by it."""
        self.policy_seats.replace(policy, self.licenses)
        self.queues.everything_changed()

    def _start(
        self,
        state: LicenseState,
        auth_context: str,
        now: float,
        out: list[Record],
        client_address: str | None = None,
        client_info: ClientInfo | None = None,
    ) -> Session:
        token = state.license.token
        session = Session(
            id=new_session_id(),
            license=token,
            auth_context=auth_context,
            started_at=now,
            expires_at=now + state.license.session_window_s,
            client_address=client_address,
            client_info=client_info,
        )
        bind_on_start(state, auth_context, self.environments, now, out)
        state.sessions[auth_context] = session
        self.by_id[session.id] = session
        self.policy_seats.started(session)
        self.changed.add(token)
        out.append(
            StartSession(
                session.id,
                token,
                auth_context,
                session.started_at,
                session.expires_at,
                client_address,
                client_info,
            )
        )
        out.append(
            AppendEvent(
                at=now,
                type="session.started",
                license=token,
                auth_context=auth_context,
                data={"sessionId": session.id},
            )
        )
        if len(state.sessions) > state.peak_sessions:
            state.peak_sessions = len(state.sessions)
            out.append(SetPeak(token, state.peak_sessions))
        return session

    async def extend(
        self,
        token: str,
        product_codes: Sequence[str],
        auth_context: str,
        *,
        client_address: str | None = None,
        client_info: ClientInfo | None = None,
    ) -> Outcome:
        """Push a live session's expiry to now + window; an expired session is never revived."""
        state = self.licenses.get(token)
        if state is None:
            return NOT_FOUND
        now = self._observe_clock()
        if self.tampered:
            return await self._clock_refusal(state)
        refusal, product = self._check(state, product_codes, now)
        if refusal is not None:
            return refusal
        self.store.check_writable()
        out: list[Record] = []
        session = self._live(state, auth_context, now, out)
        if session is None:
            await self._commit(out)
            return self._refuse(state, Reason.NO_ACTIVE_SESSION)
        session.expires_at = now + state.license.session_window_s
        out.append(TouchSession(session.id, session.expires_at))
        self._note_holder(state, session, client_address, client_info, out)
        self._free_others_units(state, session, now, out)
        await self._commit(out)
        return self._success(state, product, session)

    async def deactivate(self, token: str, auth_context: str) -> Outcome:
        """End the caller's session at once; Success (204) also when there was none."""
        state = self.licenses.get(token)
        if state is None:
            return NOT_FOUND
        now = self._observe_clock()
        out: list[Record] = []
        session = state.sessions.get(auth_context)
        if session is not None:
            self.store.check_writable()
            reason = EndReason.EXPIRED if session.expires_at <= now else EndReason.DEACTIVATED
            self._end(state, session, reason, now, out)
        await self._commit(out)
        return Outcome(status=AuthStatus.SUCCESS, license=state.license)

    def live_sessions(self) -> list[Session]:
        now = self.clock.now()
        return [s for s in self.by_id.values() if s.expires_at > now]

    async def _commit(self, out: list[Record]) -> None:
        if self._freed:  # before any await: the waiters get the seats this step freed
            freed, self._freed = self._freed, set()
            for token in freed:
                self.queues.seat_freed(token)
        if out:
            await self.store.commit(out)

    def _note_holder(
        self,
        state: LicenseState,
        session: Session,
        address: str | None,
        info: ClientInfo | None,
        out: list[Record],
    ) -> None:
        """Record a new address or new clientInfo of a session's holder (rare: no write
        otherwise); a new address may put it in other policy groups.

        A call that says nothing (an old client, or no address) keeps what is known.
        """
        address = address if address is not None else session.client_address
        info = info if info is not None else session.client_info
        if address == session.client_address and info == session.client_info:
            return
        moved = address != session.client_address
        session.client_address, session.client_info = address, info
        out.append(SetSessionClient(session.id, address, info))
        if moved:
            self.policy_seats.moved(session, state.held.get(session.id))


# Refusals a wait can change: a seat frees, or the group's holders change.
_WAITABLE = frozenset(
    {Reason.SESSION_LIMIT_REACHED, Reason.SEAT_RESERVED, Reason.GROUP_LIMIT_REACHED}
)


def _may_wait(outcome: Outcome) -> bool:
    return outcome.reason in _WAITABLE


def _blocked(outcome: Outcome) -> Blocked:
    """A refusal as the queue sees it: with no seat free at all nobody behind can get one."""
    reason = outcome.reason
    assert reason is not None
    everyone = reason is Reason.SESSION_LIMIT_REACHED
    return Blocked(reason.value, outcome.message or MESSAGES[reason], everyone)


async def _ready(outcome: Outcome) -> Outcome:
    return outcome


def _covered(lic: License, product_codes: Sequence[str] | None) -> str | None:
    """The first of `product_codes` the license covers (its first code when none are given)."""
    if not product_codes:
        return lic.product_codes[0]
    for code in product_codes:
        if code in lic.product_codes:
            return code
    return None
