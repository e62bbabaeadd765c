"""Everything the admin API, /readyz, /metrics and the dashboard read, in one place.

The facade's read side (`Licensing.reads`): plain values and read-only views of the
state (domain.reads, domain.views) and the stored audit, history and file lists, so
no handler reads the state's fields one by one nor reaches the store behind it
(tests/test_contracts.py checks). The admin views of licenses and sessions end the
expired sessions first, so they never show a seat the clock freed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Unpack

from lls.clock import Clock
from lls.domain import housekeeping
from lls.domain.committer import Committer
from lls.domain.history_series import HistoryQuery, Point, series
from lls.domain.models import AuditEvent, License, Session
from lls.domain.ports import AuditQuery, PoolImport, Store, UsageFile
from lls.domain.reads import MetricsView, ServerStatus, ready_problems, status, take_metrics_view
from lls.domain.state import LicenseState, LicensingState
from lls.domain.views import ReadState
from lls.errors import NotFound, StorageError


class Reads:
    """The read methods of the licensing facade (see the module docstring)."""

    def __init__(
        self, state: LicensingState, store: Store, clock: Clock, committer: Committer
    ) -> None:
        self._state, self._store, self._clock = state, store, clock
        self._committer, self._history = committer, committer.history

    async def end_expired(self, token: str | None = None) -> None:
        """Before an admin view: end the expired sessions of `token` (every license: None)."""
        with contextlib.suppress(StorageError):  # memory was rebuilt; the view shows it
            out = housekeeping.end_expired(self._state, token, self._clock.now())
            await self._committer.commit(out)

    def ready(self) -> list[str]:
        """Why licensing calls cannot be served now; empty when ready."""
        return ready_problems(self._state, self._clock.now())

    def status(self) -> ServerStatus:
        return status(self._state, self._clock.now())

    def view(self) -> ReadState:
        """The state, read-only, for the read model (domain.views, overview, license_index)."""
        return self._state

    def license(self, token: str) -> License | None:
        state = self._state.licenses.get(token)
        return state.license if state is not None else None

    async def licenses(self, token: str | None = None) -> Mapping[str, LicenseState]:
        """The licenses, after ending the expired sessions of `token` (all when None)."""
        await self.end_expired(token)
        return self._state.licenses

    async def sessions(self, token: str | None = None) -> list[Session]:
        """Live sessions, after ending the expired ones of `token` (all when None)."""
        await self.end_expired(token)
        return self.live_sessions()

    def live_sessions(self) -> list[Session]:
        now = self._clock.now()
        return [s for s in self._state.by_id.values() if s.expires_at > now]

    def environments(self) -> Mapping[str, str]:
        return self._state.environments

    def metrics_view(self) -> MetricsView:
        """For a scrape; takes the set of changed licenses (the next scrape starts afresh)."""
        return take_metrics_view(self._state, self._clock.now())

    async def audit(
        self, *, after: int, limit: int, **query: Unpack[AuditQuery]
    ) -> list[AuditEvent]:
        """Audit events by id range, time and type (see Store.audit)."""
        return await self._store.audit(after=after, limit=limit, **query)

    async def chain_head(self) -> tuple[int, str | None]:
        return await self._store.chain_head()

    async def license_history(self, token: str, query: HistoryQuery) -> list[Point]:
        """Stored history with the buckets in memory over it (also of a retired license)."""
        if token not in self._state.licenses and token not in self._state.retired:
            raise NotFound("no such license on this server")
        stored = await self._store.history(token, start=query.start, end=query.end)
        return series([*stored, *self._history.open_rows(token)], query.start, query.end,
                      step=query.step)  # fmt: skip

    def denials_today(self) -> dict[str, int]:
        return self._history.denied_today(self._clock.now())  # all licenses, since 00:00 UTC

    async def pool_imports(self, limit: int) -> list[PoolImport]:
        return await self._store.pool_imports(limit=limit)  # newest first

    async def usage_files(self, limit: int) -> list[UsageFile]:
        return await self._store.usage_files(limit=limit)  # newest first
