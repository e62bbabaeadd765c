"""An admin's actions on the state: free a binding, lift a misuse lock, release an
environment, end a session or a borrowed seat. Each returns `(result, records)`; a
refusal raises."""

from __future__ import annotations

from lls.domain.bindings import flags_record
from lls.domain.borrowing import end_borrow, is_borrow
from lls.domain.models import EndReason, OfflineActivation, Session
from lls.domain.records import AppendEvent, ForgetContexts, Record, ReleaseEnvironment
from lls.domain.sessions import end
from lls.domain.state import LicenseState, LicensingState
from lls.errors import NotFound, Refused


def known(st: LicensingState, token: str) -> LicenseState:
    state = st.licenses.get(token)
    if state is None:
        raise NotFound(f"no license {token!r} on this server")
    return state


def dissociate(
    st: LicensingState, token: str, auth_context: str | None, now: float
) -> tuple[str, list[Record]]:
    """Free a node-locked license's binding (and end that machine's session)."""
    state = known(st, token)
    bound = state.bound_context
    if bound is None:
        raise Refused(f"license {token} is not bound to any machine", code="NOT_BOUND")
    if auth_context is not None and auth_context != bound:
        raise Refused(
            f"license {token} is bound to another authContext, not {auth_context!r}",
            code="NOT_BOUND",
        )
    st.gate.check_writable()
    out: list[Record] = []
    session = state.sessions.get(bound)
    if session is not None:
        end(st, state, session, EndReason.ADMIN, now, out)
    state.bound_context = None
    out.append(flags_record(state))
    out.append(AppendEvent(at=now, type="license.dissociated", license=token, auth_context=bound))
    return bound, out


def unlock(st: LicensingState, token: str, now: float) -> list[Record]:
    """Lift a misuse lock; the count of machines starts afresh."""
    state = known(st, token)
    if state.locked_at is None:
        raise Refused(f"license {token} is not locked", code="NOT_LOCKED")
    st.gate.check_writable()
    state.locked_at = None
    state.seen.clear()
    state.noted.clear()
    # The misuse job counts only contexts seen after the newest `license.unlocked`.
    return [
        flags_record(state),
        ForgetContexts(token),
        AppendEvent(at=now, type="license.unlocked", license=token),
    ]


def release_environment(
    st: LicensingState, auth_context: str, now: float
) -> tuple[str, list[Record]]:
    """Release an environment from the organisation that bound it."""
    if auth_context not in st.environments:
        raise NotFound(f"environment {auth_context!r} is not bound to any organisation")
    st.gate.check_writable()
    org = st.environments.pop(auth_context)
    event = AppendEvent(
        at=now, type="environment.released", auth_context=auth_context, data={"orgId": org}
    )
    return org, [ReleaseEnvironment(auth_context), event]


def end_session(
    st: LicensingState, session_id: str, now: float
) -> tuple[Session | OfflineActivation, list[Record]]:
    """End a session now at an admin's request (recorded in the audit log); the id of a
    borrowed seat frees that seat (the device keeps its lease: domain.borrowing)."""
    if is_borrow(st, session_id):
        return end_borrow(st, session_id, now)
    session = st.by_id.get(session_id)
    state = st.licenses.get(session.license) if session is not None else None
    if session is None or state is None:
        raise NotFound(f"no live session with id {session_id!r}")
    st.gate.check_writable()
    out: list[Record] = []
    end(st, state, session, EndReason.ADMIN, now, out)
    return session, out
