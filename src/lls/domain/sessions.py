"""Session rules of api.md §3: validate, activate, extend, deactivate, and ending a session.

Each rule is a plain function over the LicensingState: it decides synchronously
(so two activates for the last seat cannot both win: the event loop runs one
rule at a time and the seat is taken in the same tick it is counted), changes
memory, and returns `(outcome, records)`; the facade (domain.service) commits the
records and answers only after they are durable. A rule that changes anything
first asks `st.gate.check_writable()`, in the same tick as its decision: while a
failed write is being undone (lls.store.writer) it is refused with StorageError
before it touches memory.

A session whose window has passed ends when a request meets it — its seat and
its floating units at once, with one `session.ended` (reason `expired`); the
sweep (domain.housekeeping) only tidies up what nobody asked about.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

from lls.domain.bindings import bind_on_start, check_bindings, note_context
from lls.domain.checks import NOT_FOUND, check, observe_clock, refuse, seats_used, success
from lls.domain.misuse import note_validated
from lls.domain.models import AuthStatus, ClientInfo, EndReason, Outcome, Reason, Session
from lls.domain.records import (
    AppendEvent,
    EndSession,
    Record,
    SetPeak,
    SetSessionClient,
    StartSession,
    TouchSession,
)
from lls.domain.state import LicenseState, LicensingState

Decision = tuple[Outcome, list[Record]]


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


# -- the four calls ---------------------------------------------------------------------


def validate(
    st: LicensingState,
    token: str,
    product_codes: Sequence[str] | None,
    auth_context: str | None,
    now: float,
) -> Decision:
    """Stateless check (license, product, bindings); reports the caller's session expiry.

    An authContext given is noted in memory for misuse detection, never written here.
    The records (if any) end expired sessions that still hold units of the license, and
    are only given while writes are taken; the facade commits them best-effort and then
    waits for queued writes, since a session this answer reports must be durable.
    """
    state = st.licenses.get(token)
    if state is None:
        return NOT_FOUND, []
    observe_clock(st, now)
    refusal, product = check(st, state, product_codes, now)
    if refusal is None and auth_context is not None:
        note_validated(state, auth_context, now)
        reason = check_bindings(state, auth_context, st.environments)
        refusal = refuse(state, reason) if reason is not None else None
    if refusal is not None:
        return refusal, []
    out: list[Record] = []
    if state.held and st.gate.writable:  # it reports the license's features: free them
        purge_expired_holders(st, state, now, out)
    session = state.sessions.get(auth_context) if auth_context is not None else None
    if session is not None and session.expires_at <= now:
        session = None
    return success(state, product, session), out


def activate(
    st: LicensingState,
    token: str,
    product_codes: Sequence[str],
    auth_context: str,
    now: float,
    *,
    client_address: str | None = None,
    client_info: ClientInfo | None = None,
) -> Decision:
    """Start a session, or refresh the caller's own; exactly one wins the last seat.

    `client_address` and `client_info` say who holds it (shown to admins only).
    """
    state = st.licenses.get(token)
    if state is None:
        return NOT_FOUND, []
    observe_clock(st, now)
    if st.tampered:
        return refuse(state, Reason.CLOCK_TAMPERED), []
    refusal, product = check(st, state, product_codes, now)
    if refusal is None:
        reason = check_bindings(state, auth_context, st.environments)
        refusal = refuse(state, reason) if reason is not None else None
    if refusal is not None:
        return refusal, []
    st.gate.check_writable()
    out: list[Record] = []
    if note_context(state, auth_context, now, out):
        return refuse(state, Reason.LICENSE_LOCKED), out
    lic = state.license
    session = live(st, state, auth_context, now, out)
    if session is not None:
        session.expires_at = now + lic.session_window_s
        out.append(TouchSession(session.id, session.expires_at))
        note_holder(session, client_address, client_info, out)
    else:
        if seats_used(state, now) >= lic.seats:
            purge_expired(st, state, now, out)
        if seats_used(state, now) >= lic.seats:
            return refuse(state, Reason.SESSION_LIMIT_REACHED), out
        session = start(st, state, auth_context, now, out, client_address, client_info)
    free_others_units(st, state, session, now, out)
    return success(state, product, session), out


def extend(
    st: LicensingState,
    token: str,
    product_codes: Sequence[str],
    auth_context: str,
    now: float,
    *,
    client_address: str | None = None,
    client_info: ClientInfo | None = None,
) -> Decision:
    """Push a live session's expiry to now + window; an expired session is never revived."""
    state = st.licenses.get(token)
    if state is None:
        return NOT_FOUND, []
    observe_clock(st, now)
    if st.tampered:
        return refuse(state, Reason.CLOCK_TAMPERED), []
    refusal, product = check(st, state, product_codes, now)
    if refusal is not None:
        return refusal, []
    st.gate.check_writable()
    out: list[Record] = []
    session = live(st, state, auth_context, now, out)
    if session is None:
        return refuse(state, Reason.NO_ACTIVE_SESSION), out
    session.expires_at = now + state.license.session_window_s
    out.append(TouchSession(session.id, session.expires_at))
    note_holder(session, client_address, client_info, out)
    free_others_units(st, state, session, now, out)
    return success(state, product, session), out


def deactivate(st: LicensingState, token: str, auth_context: str, now: float) -> Decision:
    """End the caller's session at once; Success (204) also when there was none."""
    state = st.licenses.get(token)
    if state is None:
        return NOT_FOUND, []
    observe_clock(st, now)
    out: list[Record] = []
    session = state.sessions.get(auth_context)
    if session is not None:
        st.gate.check_writable()
        reason = EndReason.EXPIRED if session.expires_at <= now else EndReason.DEACTIVATED
        end(st, state, session, reason, now, out)
    return Outcome(status=AuthStatus.SUCCESS, license=state.license), out


# -- starting and ending sessions -----------------------------------------------------


def start(
    st: LicensingState,
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
    bind_on_start(state, auth_context, st.environments, now, out)
    state.sessions[auth_context] = session
    st.by_id[session.id] = session
    st.changed.add(token)
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


def live(
    st: LicensingState, state: LicenseState, auth_context: str, now: float, out: list[Record]
) -> Session | None:
    """The live session of `auth_context`, ending it first if its window has passed."""
    session = state.sessions.get(auth_context)
    if session is not None and session.expires_at <= now:
        end(st, state, session, EndReason.EXPIRED, now, out)
        return None
    return session


def end(
    st: LicensingState,
    state: LicenseState,
    session: Session,
    reason: EndReason,
    now: float,
    out: list[Record],
) -> None:
    """End a session: free its seat and return every feature unit it held."""
    del state.sessions[session.auth_context]
    st.by_id.pop(session.id, None)
    st.changed.add(session.license)
    held = state.held.pop(session.id, None)
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


def purge_expired(st: LicensingState, state: LicenseState, now: float, out: list[Record]) -> None:
    for session in [s for s in state.sessions.values() if s.expires_at <= now]:
        end(st, state, session, EndReason.EXPIRED, now, out)


def free_others_units(
    st: LicensingState, state: LicenseState, own: Session | None, now: float, out: list[Record]
) -> None:
    """Before an answer that reports the license's units: end the expired sessions that
    still hold some. On the hot path this is a length check: usually no other session
    holds units of the license."""
    if len(state.held) > (own is not None and own.id in state.held):
        purge_expired_holders(st, state, now, out)


def purge_expired_holders(
    st: LicensingState, state: LicenseState, now: float, out: list[Record]
) -> None:
    """End the expired sessions that still hold floating units of this license (few:
    `state.held` has one entry per session that ever checked out)."""
    by_id = st.by_id
    expired = [s for sid in state.held if (s := by_id.get(sid)) is not None and s.expires_at <= now]
    for session in expired:
        end(st, state, session, EndReason.EXPIRED, now, out)


def note_holder(
    session: Session, address: str | None, info: ClientInfo | None, out: list[Record]
) -> None:
    """Record a new address or new clientInfo of a session's holder (rare: no write otherwise).

    A call that says nothing (an old client, or no address) keeps what is known.
    """
    address = address if address is not None else session.client_address
    info = info if info is not None else session.client_info
    if address == session.client_address and info == session.client_info:
        return
    session.client_address, session.client_info = address, info
    out.append(SetSessionClient(session.id, address, info))
