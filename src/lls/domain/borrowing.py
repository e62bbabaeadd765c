"""Borrowing a seat for the road (api.md §3, sync-format §2/§4; issue 16, part 3).

A device with a live session turns it into a borrowed seat: an offline
activation of kind `borrow` whose lease ends at the earliest of now +
`borrowSeconds`, now + the license's `borrowMaxSeconds` and the license's end.
The session ends in the same step (reason `borrowed`, its floating units go
back), so the seat count never moves and nobody can take the seat in between;
from then on the seat is held like any offline seat — counted by
`checks.seats_used` over `LicenseState.offline`, which is the one hook into
the seat count, persisted as an offline activation row (kind `borrow`) before
the answer, and free again when the lease ends (judged at request time, no job
needed), when the device returns it (`borrow_return` online, or its offline
deactivation token through the admin) or when an admin ends it here (the
device keeps its lease: nothing can reach it).

The rules are plain functions over the LicensingState, like every rule here:
they decide synchronously, change memory and return `(outcome, records)`; the
facade (domain.service) reads the clock, opens the device keys and commits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lls.domain.bindings import check_bindings
from lls.domain.checks import NOT_FOUND, check, observe_clock, refuse
from lls.domain.models import (
    AuthStatus,
    EndReason,
    OfflineActivation,
    OfflineGrant,
    Outcome,
    Reason,
)
from lls.domain.offline import _event, _outcome, _save
from lls.domain.ports import OfflineCodec
from lls.domain.records import Record
from lls.domain.sessions import end, live
from lls.domain.state import LicenseState, LicensingState
from lls.errors import NotFound

BORROW = "borrow"


@dataclass(frozen=True, slots=True)
class BorrowOutcome:
    """A borrow's answer: the refusal (outcome not ok), or the grant and whether it was capped."""

    outcome: Outcome
    grant: OfflineGrant | None = None
    capped: bool = False


def borrow_lease_end(state: LicenseState, now: float, borrow_s: int) -> tuple[float, bool]:
    """When a borrow asked for `borrow_s` seconds ends, and whether that was shortened.

    The earliest of now + borrow_s, now + borrowMaxSeconds and the license's end:
    a request over the maximum is capped, not refused.
    """
    wanted = now + borrow_s
    end_at = min(wanted, now + state.license.borrow_max_s)
    expires = state.expires_at()
    if expires is not None:
        end_at = min(end_at, expires)
    return end_at, end_at < wanted


def live_borrows(state: LicenseState, auth_context: str, now: float) -> list[OfflineActivation]:
    """The borrowed seats `auth_context` holds on this license now (one, or none)."""
    return [
        a
        for a in state.offline.values()
        if a.kind == BORROW and a.auth_context == auth_context and a.live(now)
    ]


def borrowed_seats(
    activations: Mapping[str, OfflineActivation], now: float
) -> list[OfflineActivation]:
    """Every borrowed seat still held, for the admin."""
    return [a for a in activations.values() if a.kind == BORROW and a.live(now)]


@dataclass(frozen=True, slots=True)
class BorrowAsk:
    """What a borrow asks for (`POST /licensing/borrow`): `device_keys` is the device's
    public JWKS (one Ed25519 and one X25519 key), `nonce` the one its answer echoes."""

    token: str
    product_codes: Sequence[str] | None
    auth_context: str
    borrow_s: int
    device_keys: Mapping[str, object]
    nonce: str | None = None


def borrow_seat(
    st: LicensingState, codec: OfflineCodec, ask: BorrowAsk, now: float
) -> tuple[BorrowOutcome, list[Record]]:
    """Turn the caller's live session into a seat borrowed until the capped lease end.

    The token is encrypted to the device's keys and its deactivation token must be signed
    by them; keys no token can be sealed to (the codec tries, once) are refused
    BAD_DEVICE_KEY before anything changes. The session's seat becomes the borrowed seat
    in this one step.
    """
    token, auth_context, borrow_s = ask.token, ask.auth_context, ask.borrow_s
    state = st.licenses.get(token)
    if state is None:  # an unknown token costs no sealing
        return BorrowOutcome(NOT_FOUND), []
    device = codec.read_device_keys(ask.device_keys)
    if device is None:
        return BorrowOutcome(refuse(state, Reason.BAD_DEVICE_KEY)), []
    observe_clock(st, now)
    if st.tampered:
        return BorrowOutcome(refuse(state, Reason.CLOCK_TAMPERED)), []
    refusal, product = check(st, state, ask.product_codes, now)
    if refusal is None:
        reason = check_bindings(state, auth_context, st.environments)
        refusal = refuse(state, reason) if reason is not None else None
    if refusal is None and state.license.borrow_max_s <= 0:
        refusal = refuse(state, Reason.BORROW_NOT_ALLOWED)
    if refusal is not None:
        return BorrowOutcome(refusal), []
    st.gate.check_writable()
    out: list[Record] = []
    session = live(st, state, auth_context, now, out)
    if session is None:
        return BorrowOutcome(refuse(state, Reason.NO_ACTIVE_SESSION)), out
    lease_end, capped = borrow_lease_end(state, now, borrow_s)
    activation = OfflineActivation(
        id=os.urandom(12).hex(),
        license=state.license.token,
        auth_context=auth_context,
        device_kid=device[0],
        device_keys=device[1],
        nonce=ask.nonce or os.urandom(18).hex(),
        activated_at=now,
        lease_expires_at=lease_end,
        kind=BORROW,
    )
    outcome = _outcome(state, product)
    # Sealed before memory changes: nothing below can fail half-way.
    sealed = codec.seal_response(activation, outcome, activation.nonce, now)
    # A device borrows one seat of a license: an earlier borrow it still holds ends.
    for earlier in live_borrows(state, auth_context, now):
        earlier.deactivated_at = now
        out.append(_save(earlier))
        out.append(_event("offline.deactivated", earlier, now, by="superseded"))
    # The session's seat becomes the borrowed seat in this one step: no one can take it.
    end(st, state, session, EndReason.BORROWED, now, out)
    state.offline[activation.id] = activation
    st.offline_by_id[activation.id] = activation
    st.changed.add(activation.license)
    out.append(_save(activation))
    out.append(
        _event(
            "offline.activated",
            activation,
            now,
            sessionId=session.id,
            requestedSeconds=borrow_s,
            capped=capped,
        )
    )
    return BorrowOutcome(outcome, OfflineGrant(activation, sealed), capped), out


def borrow_return(
    st: LicensingState, token: str, auth_context: str, now: float
) -> tuple[Outcome, list[Record]]:
    """Give the caller's borrowed seat back early; Success also when it holds none."""
    state = st.licenses.get(token)
    if state is None:
        return NOT_FOUND, []
    observe_clock(st, now)
    out: list[Record] = []
    held = live_borrows(state, auth_context, now)
    if held:
        st.gate.check_writable()
        for activation in held:
            activation.deactivated_at = now
            st.changed.add(activation.license)
            out.append(_save(activation))
            out.append(_event("offline.deactivated", activation, now, by="device"))
    return Outcome(status=AuthStatus.SUCCESS, license=state.license), out


def is_borrow(st: LicensingState, activation_id: str) -> bool:
    activation = st.offline_by_id.get(activation_id)
    return activation is not None and activation.kind == BORROW


def end_borrow(
    st: LicensingState, activation_id: str, now: float
) -> tuple[OfflineActivation, list[Record]]:
    """An admin frees a borrowed seat here now; the device keeps its lease until it ends."""
    activation = st.offline_by_id.get(activation_id)
    if activation is None or activation.kind != BORROW or not activation.live(now):
        raise NotFound(f"no borrowed seat with id {activation_id!r}")
    st.gate.check_writable()
    activation.deactivated_at = now
    st.changed.add(activation.license)
    return activation, [
        _save(activation),
        _event("offline.deactivated", activation, now, by="admin"),
    ]
