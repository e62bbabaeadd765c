"""Housekeeping and admin ends of sessions: the sweep, an admin's end, expiry before a view."""

from __future__ import annotations

import contextlib

from lls.domain.licensing import Sessions
from lls.domain.models import EndReason, Session
from lls.domain.records import Record
from lls.errors import NotFound, StorageError


class Housekeeping(Sessions):
    """What ends sessions besides their own calls."""

    async def expire_due(self) -> int:
        """End every session whose window has passed (the sweep job); returns how many."""
        if not self.store.writable:
            return 0  # the next run sweeps them
        now = self.clock.now()
        out: list[Record] = []
        due = [s for s in self.by_id.values() if s.expires_at <= now]
        for session in due:
            state = self.licenses.get(session.license)
            if state is not None and state.sessions.get(session.auth_context) is session:
                self._end(state, session, EndReason.EXPIRED, now, out)
        await self._commit(out)
        return len(due)

    async def end_session(self, session_id: str) -> Session:
        """End a session now at an admin's request (recorded in the audit log)."""
        session = self.by_id.get(session_id)
        state = self.licenses.get(session.license) if session is not None else None
        if session is None or state is None:
            raise NotFound(f"no live session with id {session_id!r}")
        self.store.check_writable()
        out: list[Record] = []
        self._end(state, session, EndReason.ADMIN, self.clock.now(), out)
        await self._commit(out)
        return session

    async def end_expired(self, token: str | None = None) -> None:
        """Before an admin view: end the expired sessions of `token` (of every license when
        None), so the view shows no seat or unit an expired session still held."""
        if not self.store.writable:
            return
        with contextlib.suppress(StorageError):  # memory was rebuilt; the view shows it
            if token is None:
                await self.expire_due()
                return
            state = self.licenses.get(token)
            if state is not None:
                out: list[Record] = []
                self._purge_expired(state, self.clock.now(), out)
                await self._commit(out)
