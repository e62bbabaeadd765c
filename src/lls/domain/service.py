"""The licensing service: session rules plus loading state and importing pools (sync-format §2)."""

from __future__ import annotations

import asyncio
import logging

from lls.clock import Clock, rfc3339
from lls.domain.licensing import Sessions
from lls.domain.models import CLOCK_SKEW_S, EndReason, Pool, PoolSummary
from lls.domain.ports import PoolReader, Store
from lls.domain.records import AppendEvent, EndSession, Record, SavePool, SetMeta
from lls.domain.state import LicenseState
from lls.errors import Refused, StorageError

log = logging.getLogger(__name__)

FLOOR_KEY = "clock_floor"
ENDING_STATUSES = frozenset({"revoked", "suspended"})


class Licensing(Sessions):
    """What the HTTP handlers, jobs and CLI call; owns the in-memory state."""

    def __init__(self, *, store: Store, reader: PoolReader, clock: Clock, instance_id: str) -> None:
        super().__init__(store=store, clock=clock)
        self.reader = reader
        self.instance_id = instance_id
        self.pool: Pool | None = None
        self.pool_imported_at: float | None = None
        self._import_lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self.pool is not None

    # -- start ------------------------------------------------------------------------

    async def load(self) -> None:
        """Rebuild memory from the database; the stored pool is verified again, never trusted."""
        snap = await self.store.snapshot()
        pool: Pool | None = None
        if snap.pool is not None:
            pool = await asyncio.to_thread(self.reader.read, snap.pool.raw)
            if pool.seq != snap.pool.seq or pool.aud != self.instance_id:
                raise Refused(
                    f"the stored pool (seq {snap.pool.seq}) does not match its signed content;"
                    " the database was edited — import the newest pool file again",
                    code="STORED_POOL_MISMATCH",
                )
            self.pool_imported_at = snap.pool.imported_at
        self.pool = pool
        self.pool_exp = float(pool.exp) if pool is not None else None
        self.floor = max(float(snap.meta.get(FLOOR_KEY, "0")), float(pool.iat) if pool else 0.0)
        self.licenses = {}
        self.by_id = {}
        if pool is not None:
            for lic in pool.licenses:
                fresh = LicenseState(license=lic, peak_sessions=snap.peaks.get(lic.token, 0))
                fresh.refresh_views()
                self.licenses[lic.token] = fresh
        out: list[Record] = []
        now = self._observe_clock()
        for session in snap.sessions:
            state = self.licenses.get(session.license)
            state_ok = state is not None and state.license.status not in ENDING_STATUSES
            if state is not None:
                state.sessions[session.auth_context] = session
                self.by_id[session.id] = session
                if session.expires_at <= now:
                    self._end(state, session, EndReason.EXPIRED, now, out)
                elif not state_ok:
                    self._end(state, session, EndReason.REVOKED, now, out)
            else:
                # A session whose license is gone from the pool: drop its row.
                out.append(EndSession(session.id))
        await self._commit(out)

    async def _commit(self, out: list[Record]) -> None:
        """Commit; if the database refuses, memory is rebuilt from what it holds."""
        if not out:
            return
        try:
            await self.store.commit(out)
        except StorageError:
            log.error("a write failed; reloading state from the database")
            await self.load()
            raise

    async def persist_floor(self) -> None:
        """Persist the trusted-time floor (a job calls this; requests raise it in memory only)."""
        self._observe_clock()
        await self._commit([SetMeta(FLOOR_KEY, repr(self.floor))])

    # -- pool import --------------------------------------------------------------------

    async def import_pool(self, raw: str) -> PoolSummary:
        """Verify and apply a pool file, all or nothing; every refusal leaves state as it was."""
        async with self._import_lock:
            pool = await asyncio.to_thread(self.reader.read, raw)
            now = self._observe_clock()
            self._check_pool(pool, now)
            return await self._apply_pool(pool, raw, now)

    def _check_pool(self, pool: Pool, now: float) -> None:
        if pool.aud != self.instance_id:
            raise Refused(
                f"this pool file is for instance {pool.aud!r}, not this one ({self.instance_id!r})",
                code="POOL_WRONG_INSTANCE",
            )
        current = self.pool
        if current is not None and pool.seq <= current.seq:
            raise Refused(
                f"pool seq {pool.seq} is not newer than the imported seq {current.seq}"
                " (a replayed or older pool file)",
                code="POOL_NOT_NEWER",
            )
        if pool.iat > now + CLOCK_SKEW_S:
            raise Refused(
                f"the pool was issued at {rfc3339(pool.iat)}, more than 5 minutes in this"
                f" server's future ({rfc3339(now)}): the server clock is behind; set it right",
                code="POOL_FROM_THE_FUTURE",
            )
        if pool.exp <= now:
            raise Refused(
                f"the pool expired at {rfc3339(pool.exp)}; ask the vendor for a fresh pool file",
                code="POOL_EXPIRED",
            )
        if current is not None and pool.org_id != current.org_id:
            raise Refused(
                f"the pool belongs to organisation {pool.org_id!r}, but this instance belongs"
                f" to {current.org_id!r}",
                code="POOL_OTHER_ORG",
            )
        tokens = [lic.token for lic in pool.licenses]
        if len(set(tokens)) != len(tokens):
            raise Refused("the pool lists a license token twice", code="POOL_INVALID")

    async def _apply_pool(self, pool: Pool, raw: str, now: float) -> PoolSummary:
        out: list[Record] = [
            SavePool(
                seq=pool.seq,
                iat=pool.iat,
                exp=pool.exp,
                org_id=pool.org_id,
                ack_usage_seq=pool.ack_usage_seq,
                imported_at=now,
                raw=raw,
            )
        ]
        new_licenses = {lic.token: lic for lic in pool.licenses}
        added = changed = ended = 0
        for token, state in list(self.licenses.items()):
            lic = new_licenses.get(token)
            if lic is None or lic.status in ENDING_STATUSES:
                for session in list(state.sessions.values()):
                    self._end(state, session, EndReason.REVOKED, now, out)
                    ended += 1
            if lic is None:
                del self.licenses[token]
        for token, lic in new_licenses.items():
            known = self.licenses.get(token)
            if known is None:
                added += 1
                known = self.licenses[token] = LicenseState(license=lic)
            elif known.license != lic:
                changed += 1
                known.license = lic
            known.refresh_views()
        removed = len(self.pool.licenses) - (len(new_licenses) - added) if self.pool else 0
        self.floor = max(self.floor, float(pool.iat))
        out.append(SetMeta(FLOOR_KEY, repr(self.floor)))
        summary = PoolSummary(
            seq=pool.seq,
            issued_at=float(pool.iat),
            expires_at=float(pool.exp),
            licenses=len(new_licenses),
            added=added,
            changed=changed,
            removed=removed,
            sessions_ended=ended,
        )
        out.append(
            AppendEvent(
                at=now,
                type="pool.imported",
                data={
                    "seq": pool.seq,
                    "licenses": summary.licenses,
                    "added": added,
                    "changed": changed,
                    "removed": removed,
                    "sessionsEnded": ended,
                    "ackUsageSeq": pool.ack_usage_seq,
                },
            )
        )
        self.pool = pool
        self.pool_exp = float(pool.exp)
        self.pool_imported_at = now
        await self._commit(out)
        return summary
