"""Memory from the database: at start (the stored pool verified again) and after a failed write.

The rules keep everything in memory; these are the only two ways it is ever
filled from the database. `load` runs once at start and tidies up what ended
while the server was down. `rebuild` runs inside the store's writer after a
batch failed (see lls.store.writer): it makes memory exactly what the database
holds, writes nothing, and reuses the pool it already verified when the
database still holds that pool — verifying 100,000 licenses again would take
seconds.
"""

from __future__ import annotations

import asyncio
import logging

from lls.domain.checks import observe_clock
from lls.domain.models import EndReason, Pool
from lls.domain.pools import ENDING_STATUSES, FLOOR_KEY
from lls.domain.ports import PoolReader, Snapshot
from lls.domain.records import EndSession, Record
from lls.domain.sessions import end
from lls.domain.state import Carry, LicenseState, LicensingState
from lls.domain.usage import ACK_EVENT_KEY, USAGE_SEQ_KEY
from lls.errors import Refused

log = logging.getLogger(__name__)


async def stored_pool(st: LicensingState, reader: PoolReader, snap: Snapshot) -> Pool | None:
    """The stored pool, verified (again, unless this process verified that very seq)."""
    if snap.pool is None:
        st.verified_pools = {}
        return None
    known = st.verified_pools.get(snap.pool.seq)
    if known is not None and not snap.pool.raw:
        st.verified_pools = {known.seq: known}
        return known
    pool = await asyncio.to_thread(reader.read, snap.pool.raw)
    if pool.seq != snap.pool.seq or pool.aud != st.instance_id:
        raise Refused(
            f"the stored pool (seq {snap.pool.seq}) does not match its signed content;"
            " the database was edited — import the newest pool file again",
            code="STORED_POOL_MISMATCH",
        )
    st.verified_pools = {pool.seq: pool}
    return pool


def restore(
    st: LicensingState, snap: Snapshot, pool: Pool | None, now: float, *, tidy: bool
) -> list[Record]:
    """Replace memory with `snap` (synchronously: no request sees half of it).

    With `tidy` (at start), sessions that expired or were revoked meanwhile are ended
    and the records returned; without it (a rebuild) memory mirrors the database exactly.
    """
    if snap.pool is not None:
        st.pool_imported_at = snap.pool.imported_at
    if pool is not None and pool.iat < st.trust_pools_from:
        log.warning("the stored pool predates this instance's re-registration; import anew")
        pool = None
    st.pool = pool
    st.pool_exp = float(pool.exp) if pool is not None else None
    # The trusted-time floor only ever rises (a rebuild keeps what the clock raised).
    st.floor = max(st.floor, float(snap.meta.get(FLOOR_KEY, "0")), float(pool.iat) if pool else 0.0)
    st.usage_seq = int(snap.meta.get(USAGE_SEQ_KEY, "0"))
    st.ack_event_id = int(snap.meta.get(ACK_EVENT_KEY, "0"))
    st.last_usage_export = snap.last_export_at
    st.environments = dict(snap.environments)
    # What misuse detection saw and has not written yet lives in memory only: a rebuild
    # keeps it (the database never had it to give back).
    observed = {t: (s.seen, s.noted) for t, s in st.licenses.items()} if not tidy else {}
    _rebuild_states(st, pool, snap)
    for token, (seen, noted) in observed.items():
        if (state := st.licenses.get(token)) is not None:
            state.seen, state.noted = seen, noted
    out: list[Record] = []
    for session in snap.sessions:
        state = st.licenses.get(session.license)
        if state is None:
            out.append(EndSession(session.id))  # its license is gone from the pool
            continue
        state.sessions[session.auth_context] = session
        st.by_id[session.id] = session
    st.offline_by_id = {}
    for activation in snap.offline:
        st.offline_by_id[activation.id] = activation
        owner = st.licenses.get(activation.license)
        if owner is not None:
            owner.offline[activation.id] = activation
    for sid, code, quantity in snap.held:
        holder = st.by_id.get(sid)
        if holder is not None:
            state = st.licenses[holder.license]
            state.held.setdefault(sid, {})[code] = quantity
            state.in_use[code] = state.in_use.get(code, 0) + quantity
    if not tidy:
        for state in st.licenses.values():
            state.refresh_views()
        return out
    observe_clock(st, now)  # after the floor: a clock turned back shows at once
    for state in st.licenses.values():
        state.refresh_views()
        ending = state.license.status in ENDING_STATUSES
        for session in list(state.sessions.values()):
            if session.expires_at <= now:
                end(st, state, session, EndReason.EXPIRED, now, out)
            elif ending:
                end(st, state, session, EndReason.REVOKED, now, out)
    return out


def _rebuild_states(st: LicensingState, pool: Pool | None, snap: Snapshot) -> None:
    st.licenses, st.by_id, st.retired = {}, {}, {}
    granted = {lic.token: lic for lic in pool.licenses} if pool else {}
    consumed: dict[str, dict[str, int]] = {}
    for (token, code), count in snap.consumed.items():
        consumed.setdefault(token, {})[code] = count
    for token in set(granted) | set(snap.flags) | set(consumed):
        carry = Carry(
            *snap.flags.get(token, (None, None, None)),
            consumed=consumed.get(token, {}),
            peak_sessions=snap.peaks.get(token, 0),
        )
        lic = granted.get(token)
        if lic is None:
            st.retired[token] = carry
            continue
        state = LicenseState(license=lic)
        state.restore(carry)
        st.licenses[token] = state
