"""The server's own work on the licensing state, apart from any client's call.

Memory from the database (at start, and after a failed write), and the steps of the
background jobs (lls.jobs): the expiry sweep, the trusted-time floor, misuse
detection and the usage history's rounds.
Each step runs rules of domain.housekeeping / domain.loading over the state and
commits their records through the same path as a client's call (domain.committer).
"""

from __future__ import annotations

import logging

from lls.clock import Clock
from lls.domain import housekeeping, loading
from lls.domain.checks import observe_clock
from lls.domain.committer import Committer
from lls.domain.history import send_history
from lls.domain.misuse import take_noted
from lls.domain.ports import PoolReader, Store
from lls.domain.state import LicensingState
from lls.errors import StorageError

log = logging.getLogger(__name__)


class Upkeep:
    """Loading memory and the background jobs' steps (see the module docstring)."""

    def __init__(
        self,
        state: LicensingState,
        store: Store,
        reader: PoolReader,
        clock: Clock,
        committer: Committer,
    ) -> None:
        self.state, self.store, self.reader, self.clock = state, store, reader, clock
        self.committer = committer
        self.history = committer.history
        store.set_rebuild(self.rebuild)  # after a failed write the writer rebuilds memory

    async def load(self) -> None:
        """Rebuild memory from the database at start; the stored pool is verified again."""
        self.state.verified_pools = {}
        snap = await self.store.snapshot()
        pool = await loading.stored_pool(self.state, self.reader, snap)
        out = loading.restore(self.state, snap, pool, self.clock.now(), tidy=True)
        self.history.restore(snap.history, snap.history_denied, self.clock.now())
        await self.committer.commit(out)

    async def rebuild(self) -> None:
        """After a failed write: memory becomes what the database holds; writes nothing."""
        known = self.state.verified_pools.keys()
        snap = await self.store.snapshot(wait=False, known_pools=known)
        pool = await loading.stored_pool(self.state, self.reader, snap)
        loading.restore(self.state, snap, pool, self.clock.now(), tidy=False)
        self.history.restore(snap.history, snap.history_denied, self.clock.now())
        log.warning("memory rebuilt from the database after a failed write")

    async def expire_due(self) -> int:
        ended, out = housekeeping.expire_due(self.state, self.clock.now())
        await self.committer.commit(out)
        return ended

    async def persist_floor(self) -> None:
        """Persist the trusted-time floor, and record a clock turned back even when no
        request noticed it yet."""
        observe_clock(self.state, self.clock.now())
        await self.committer.record_tamper()
        self.store.check_writable()
        await self.committer.commit(housekeeping.floor_records(self.state))

    async def detect_misuse(self) -> list[str]:
        """Write what validate noted (in batches), then lock licenses seen from too many
        machines within their window."""
        if not self.store.writable:
            return []  # what validate noted stays noted for the next run
        now = self.clock.now()
        batches = take_noted(self.state.licenses, now)
        for i, batch in enumerate(batches):
            try:
                await self.committer.commit(batch)
            except StorageError:
                housekeeping.note_again(self.state, batches[i:])  # the next run writes them
                raise
        watched = housekeeping.watched(self.state)
        if not watched:
            return []
        longest = max(s.license.misuse.window_s for s in watched if s.license.misuse)
        seen = await self.store.contexts_seen(since=now - longest)
        try:
            self.store.check_writable()  # a write failed meanwhile: the next run counts again
        except StorageError:
            return []
        locked, out = housekeeping.judge_misuse(watched, seen, now)
        await self.committer.commit(out)
        return locked

    async def flush_history(self, *, force: bool = False) -> None:
        """Open a new hour when one began, write the changed buckets (the sweep job; `force`:
        at a clean stop, so nothing of the open hour is lost)."""
        now, writable = self.clock.now(), self.store.writable
        if records := self.history.due(self.state.licenses, now, force=force, writable=writable):
            await send_history(self.store, self.history, records)

    def keep_history(self, days: int) -> None:
        self.history.keep(days)  # history.retention_days, at start and on a reload
