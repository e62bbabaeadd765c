"""What ends sessions besides their own calls, and what the scheduled jobs decide:
the expiry sweep, expiry before an admin view, the clock floor, misuse detection."""

from __future__ import annotations

from lls.domain.misuse import lock_overused
from lls.domain.models import EndReason
from lls.domain.pools import FLOOR_KEY
from lls.domain.records import NoteContexts, Record, SetMeta
from lls.domain.sessions import end, purge_expired
from lls.domain.state import LicenseState, LicensingState


def expire_due(st: LicensingState, now: float) -> tuple[int, list[Record]]:
    """End every session whose window has passed (the sweep job); returns how many.
    While writes are refused it does nothing: the next run sweeps them."""
    if not st.gate.writable:
        return 0, []
    out: list[Record] = []
    due = [s for s in st.by_id.values() if s.expires_at <= now]
    for session in due:
        state = st.licenses.get(session.license)
        if state is not None and state.sessions.get(session.auth_context) is session:
            end(st, state, session, EndReason.EXPIRED, now, out)
    return len(due), out


def end_expired(st: LicensingState, token: str | None, now: float) -> list[Record]:
    """Before an admin view: end the expired sessions of `token` (of every license when
    None), so the view shows no seat or unit an expired session still held."""
    if token is None:
        return expire_due(st, now)[1]
    state = st.licenses.get(token)
    out: list[Record] = []
    if state is not None and st.gate.writable:
        purge_expired(st, state, now, out)
    return out


def floor_records(st: LicensingState) -> list[Record]:
    """The floor as a record (a job persists it; requests raise it in memory only)."""
    return [SetMeta(FLOOR_KEY, repr(st.floor))]


def watched(st: LicensingState) -> list[LicenseState]:
    """The licenses misuse detection judges: with a misuse limit and not locked yet."""
    return [s for s in st.licenses.values() if s.license.misuse and s.locked_at is None]


def judge_misuse(
    states: list[LicenseState], seen: dict[str, dict[str, float]], now: float
) -> tuple[list[str], list[Record]]:
    """Lock the watched `states` seen from too many machines (`seen`: what the database
    recorded); returns the tokens locked."""
    out: list[Record] = []
    locked = lock_overused(states, seen, now, out)
    return locked, out


def note_again(st: LicensingState, batches: list[list[Record]]) -> None:
    """Batches of noted contexts that were not written: keep them noted for the next run."""
    for batch in batches:
        for record in batch:
            if isinstance(record, NoteContexts):
                for token, ctx, at in record.seen:
                    state = st.licenses.get(token)
                    if state is not None:
                        state.noted[ctx] = max(at, state.noted.get(ctx, 0.0))
