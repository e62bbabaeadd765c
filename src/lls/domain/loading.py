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

from lls.domain.models import EndReason, Pool
from lls.domain.offline import Offline
from lls.domain.ports import PoolReader, Snapshot
from lls.domain.records import EndSession, Record
from lls.domain.state import Carry, LicenseState
from lls.domain.usage import ACK_EVENT_KEY, USAGE_SEQ_KEY
from lls.errors import Refused

log = logging.getLogger(__name__)

FLOOR_KEY = "clock_floor"
# Statuses the vendor set that end a license's sessions at once (at import, and at start).
# `locked` (the vendor locked the order) ends them too: only a newer pool lifts it, every
# call answers Locked meanwhile, and ending them frees seats and feature units now and
# records it for the vendor — unlike a misuse lock, which an admin may lift at once.
ENDING_STATUSES = frozenset({"revoked", "suspended", "locked"})


class Loading(Offline):
    """Fills the in-memory state from a database snapshot."""

    reader: PoolReader
    instance_id: str
    trust_pools_from: float
    pool: Pool | None
    pool_imported_at: float | None
    retired: dict[str, Carry]
    usage_seq: int
    ack_event_id: int
    # Pools verified by this process, by seq: the newest and, during an import, the one
    # before it (the database still holds it if the import's write fails).
    verified_pools: dict[int, Pool]

    async def load(self) -> None:
        """Rebuild memory from the database at start; the stored pool is verified again."""
        self.verified_pools = {}
        snap = await self.store.snapshot()
        pool = await self._stored_pool(snap)
        await self._commit(self._restore(snap, pool, tidy=True))

    async def rebuild(self) -> None:
        """After a failed write: memory becomes what the database holds; writes nothing."""
        snap = await self.store.snapshot(wait=False, known_pools=self.verified_pools.keys())
        pool = await self._stored_pool(snap)
        self._restore(snap, pool, tidy=False)
        log.warning("memory rebuilt from the database after a failed write")

    async def _stored_pool(self, snap: Snapshot) -> Pool | None:
        """The stored pool, verified (again, unless this process verified that very seq)."""
        if snap.pool is None:
            self.verified_pools = {}
            return None
        known = self.verified_pools.get(snap.pool.seq)
        if known is not None and not snap.pool.raw:
            self.verified_pools = {known.seq: known}
            return known
        pool = await asyncio.to_thread(self.reader.read, snap.pool.raw)
        if pool.seq != snap.pool.seq or pool.aud != self.instance_id:
            raise Refused(
                f"the stored pool (seq {snap.pool.seq}) does not match its signed content;"
                " the database was edited — import the newest pool file again",
                code="STORED_POOL_MISMATCH",
            )
        self.verified_pools = {pool.seq: pool}
        return pool

    def _restore(self, snap: Snapshot, pool: Pool | None, *, tidy: bool) -> list[Record]:
        """Replace memory with `snap` (synchronously: no request sees half of it).

        With `tidy`, sessions that expired or were revoked meanwhile are ended and
        the records returned; without it memory mirrors the database exactly.
        """
        if snap.pool is not None:
            self.pool_imported_at = snap.pool.imported_at
        if pool is not None and pool.iat < self.trust_pools_from:
            log.warning("the stored pool predates this instance's re-registration; import anew")
            pool = None
        self.pool = pool
        self.pool_exp = float(pool.exp) if pool is not None else None
        # The trusted-time floor only ever rises (a rebuild keeps what the clock raised).
        self.floor = max(
            self.floor, float(snap.meta.get(FLOOR_KEY, "0")), float(pool.iat) if pool else 0.0
        )
        self.usage_seq = int(snap.meta.get(USAGE_SEQ_KEY, "0"))
        self.ack_event_id = int(snap.meta.get(ACK_EVENT_KEY, "0"))
        self.last_usage_export = snap.last_export_at
        self.environments = dict(snap.environments)
        # What misuse detection saw and has not written yet lives in memory only: a rebuild
        # keeps it (the database never had it to give back).
        observed = {t: (s.seen, s.noted) for t, s in self.licenses.items()} if not tidy else {}
        self._rebuild_states(pool, snap)
        for token, (seen, noted) in observed.items():
            if (state := self.licenses.get(token)) is not None:
                state.seen, state.noted = seen, noted
        out: list[Record] = []
        for session in snap.sessions:
            state = self.licenses.get(session.license)
            if state is None:
                out.append(EndSession(session.id))  # its license is gone from the pool
                continue
            state.sessions[session.auth_context] = session
            self.by_id[session.id] = session
        self.offline_by_id = {}
        for activation in snap.offline:
            self.offline_by_id[activation.id] = activation
            owner = self.licenses.get(activation.license)
            if owner is not None:
                owner.offline[activation.id] = activation
        for sid, code, quantity in snap.held:
            holder = self.by_id.get(sid)
            if holder is not None:
                state = self.licenses[holder.license]
                state.held.setdefault(sid, {})[code] = quantity
                state.in_use[code] = state.in_use.get(code, 0) + quantity
        if not tidy:
            for state in self.licenses.values():
                state.refresh_views()
            self.policy_seats.rebuild(self.licenses)
            return out
        now = self._observe_clock()  # after the floor: a clock turned back shows at once
        for state in self.licenses.values():
            state.refresh_views()
            ending = state.license.status in ENDING_STATUSES
            for session in list(state.sessions.values()):
                if session.expires_at <= now:
                    self._end(state, session, EndReason.EXPIRED, now, out)
                elif ending:
                    self._end(state, session, EndReason.REVOKED, now, out)
        self.policy_seats.rebuild(self.licenses)
        return out

    def _rebuild_states(self, pool: Pool | None, snap: Snapshot) -> None:
        self.licenses, self.by_id, self.retired = {}, {}, {}
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
                self.retired[token] = carry
                continue
            state = LicenseState(license=lic)
            state.restore(carry)
            self.licenses[token] = state
