"""Feature checkout and return (api.md §4): floating units, consumption counters, booleans.

Units live and die with their session: ending a session (domain.sessions.end)
returns what it held. Each rule returns `(outcome, records)` for the facade to commit.
"""

from __future__ import annotations

from lls.domain.checks import check, observe_clock
from lls.domain.models import MESSAGES, AuthStatus, FeatureOutcome, Reason, Session
from lls.domain.records import AppendEvent, Record, SetConsumed, SetHeld
from lls.domain.sessions import free_others_units, live
from lls.domain.state import LicenseState, LicensingState
from lls.protocol.shapes import FeatureGrant

FeatureDecision = tuple[FeatureOutcome, list[Record]]


def checkout(
    st: LicensingState, token: str, auth_context: str, code: str, quantity: int, now: float
) -> FeatureDecision:
    """Take `quantity` units for the caller's live session, all or nothing."""
    out: list[Record] = []
    refusal, state, session, feature = _context(st, token, auth_context, code, now, out, True)
    if refusal is not None:
        return refusal, out
    assert state is not None and session is not None and feature is not None
    if feature.type == "boolean":
        return _figures(state, session, feature, 0), out  # on: nothing to hold
    free_others_units(st, state, session, now, out)  # units of expired sessions come back
    available = _available(state, feature) or 0
    if feature.type == "floating" and feature.count is not None:  # the seat policy's units
        denied = st.policy.unit_refusal(state, session, code, feature.count, quantity)
        if denied is not None:
            return _refusal(code, Reason(denied.reason.value), state, denied.message), out
    if quantity > available:
        message = f"{quantity} units of {code} asked for, {available} left"
        return _refusal(code, Reason.FEATURE_EXHAUSTED, state, message), out
    if feature.type == "floating":
        held = state.held.setdefault(session.id, {})
        held[code] = held.get(code, 0) + quantity
        state.in_use[code] = state.in_use.get(code, 0) + quantity
        st.policy.units(session, code, quantity)
        out.append(SetHeld(session.id, code, held[code]))
    else:
        state.consumed[code] = state.consumed.get(code, 0) + quantity
        out.append(SetConsumed(token, code, state.consumed[code]))
    state.refresh_views()
    st.changed.add(token)
    out.append(
        AppendEvent(
            at=now,
            type="feature.checkout",
            license=token,
            auth_context=auth_context,
            data={"feature": code, "quantity": quantity, "sessionId": session.id},
        )
    )
    return _figures(state, session, feature, quantity), out


def return_units(
    st: LicensingState, token: str, auth_context: str, code: str, quantity: int, now: float
) -> FeatureDecision:
    """Give back up to `quantity` floating units the caller's session holds."""
    out: list[Record] = []
    refusal, state, session, feature = _context(st, token, auth_context, code, now, out, False)
    if refusal is not None:
        return refusal, out
    assert state is not None and session is not None and feature is not None
    if feature.type == "consumption":
        return _refusal(code, Reason.FEATURE_NOT_RETURNABLE, state), out
    free_others_units(st, state, session, now, out)
    held = state.held.get(session.id, {})
    moved = min(quantity, held.get(code, 0))
    if moved == 0:
        return _figures(state, session, feature, 0), out
    held[code] -= moved
    state.in_use[code] -= moved
    st.policy.units(session, code, -moved)
    if held[code] == 0:
        del held[code]
    state.refresh_views()
    st.changed.add(token)
    out.append(SetHeld(session.id, code, held.get(code, 0)))
    out.append(
        AppendEvent(
            at=now,
            type="feature.return",
            license=token,
            auth_context=auth_context,
            data={"feature": code, "quantity": moved, "sessionId": session.id},
        )
    )
    return _figures(state, session, feature, moved), out


def _context(
    st: LicensingState,
    token: str,
    auth_context: str,
    code: str,
    now: float,
    out: list[Record],
    checkout: bool,
) -> tuple[FeatureOutcome | None, LicenseState | None, Session | None, FeatureGrant | None]:
    """The checks both calls share: license, clock, live session, feature exists.

    The caller's own session, when its window has passed, is ended here (into `out`).
    """
    state = st.licenses.get(token)
    if state is None:
        return _refusal(code, Reason.LICENSE_NOT_FOUND), None, None, None
    observe_clock(st, now)
    if checkout and st.tampered:
        return _refusal(code, Reason.CLOCK_TAMPERED, state), None, None, None
    refusal, _ = check(st, state, None, now)
    if refusal is not None:
        assert refusal.reason is not None
        return _refusal(code, refusal.reason, state, refusal.message), None, None, None
    st.gate.check_writable()
    session = live(st, state, auth_context, now, out)
    if session is None:
        return _refusal(code, Reason.NO_ACTIVE_SESSION, state), None, None, None
    feature = _feature(state, code)
    if feature is None:
        return _refusal(code, Reason.FEATURE_NOT_FOUND, state), None, None, None
    return None, state, session, feature


def _refusal(
    code: str, reason: Reason, state: LicenseState | None = None, message: str | None = None
) -> FeatureOutcome:
    status = AuthStatus.LOCKED if reason is Reason.LICENSE_LOCKED else AuthStatus.FAILED
    feature = _feature(state, code) if state is not None else None
    return FeatureOutcome(
        status=status,
        feature_code=code,
        reason=reason,
        message=message or MESSAGES[reason],
        available=_available(state, feature) if state is not None and feature else None,
    )


def _figures(
    state: LicenseState, session: Session, feature: FeatureGrant, moved: int
) -> FeatureOutcome:
    return FeatureOutcome(
        status=AuthStatus.SUCCESS,
        feature_code=feature.code,
        quantity=moved,
        checked_out=state.held.get(session.id, {}).get(feature.code, 0),
        available=_available(state, feature),
        expires_at=session.expires_at,
    )


def _feature(state: LicenseState, code: str) -> FeatureGrant | None:
    for feature in state.license.features:
        if feature.code == code:
            return feature
    return None


def _available(state: LicenseState, feature: FeatureGrant) -> int | None:
    if feature.count is None:
        return None
    used = state.in_use if feature.type == "floating" else state.consumed
    return max(0, feature.count - used.get(feature.code, 0))
