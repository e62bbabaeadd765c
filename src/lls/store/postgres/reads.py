"""The PostgreSQL read queries, on a reader connection of their own.

PostgresStore holds one `Reader`: a connection apart from the writer's and the leader
lock's, so an admin view never waits behind a batch nor a batch behind a view. It runs
the SQL and hands the rows to `rows.py`, which turns them into domain models the same
way for both stores; the store decides when a read first waits for queued writes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection
from typing import Unpack

from lls.domain.models import AuditEvent
from lls.domain.ports import AuditQuery, PoolImport, Snapshot, UsageFile
from lls.domain.records import HourRow
from lls.errors import StorageError
from lls.store import rows
from lls.store.audit_query import audit_query
from lls.store.history_rows import COLUMNS as HISTORY_COLUMNS
from lls.store.history_rows import hour_row
from lls.store.postgres.connection import Conn, connect, describe
from lls.store.postgres.leader import connection_lost

READ_TIMEOUT_S = 30.0  # a snapshot of 100,000 sessions takes well under a second

# Fixed text only (the column lists are constants); values go in as parameters.
_SESSIONS = f"SELECT {rows.SESSION_COLUMNS} FROM sessions ORDER BY started_at, id"  # noqa: S608
_OFFLINE = f"SELECT {rows.OFFLINE_COLUMNS} FROM offline_activations ORDER BY id"  # noqa: S608
_EVENTS = f"SELECT {rows.EVENT_COLUMNS} FROM events"  # noqa: S608
_NEWEST_HOUR = f"SELECT {HISTORY_COLUMNS} FROM history_hours WHERE hour = $1"  # noqa: S608
_POOL_IMPORTS = f"SELECT {rows.POOL_IMPORT_COLUMNS} FROM pools ORDER BY seq DESC LIMIT $1"  # noqa: S608
_USAGE_FILES = f"SELECT {rows.USAGE_FILE_COLUMNS} FROM usage_exports ORDER BY seq DESC LIMIT $1"  # noqa: S608


class Reader:
    """The reader connection (opened on first use, opened again after it broke) and the
    queries the Store port answers with."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Conn | None = None
        self._reading = asyncio.Lock()

    async def close(self) -> None:
        async with self._reading:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.close()
                self._conn = None

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[Conn]:
        async with self._reading:
            if self._conn is None or self._conn.is_closed():
                self._conn = await connect(self.url, role="reader", command_timeout=READ_TIMEOUT_S)
            conn = self._conn
            try:
                yield conn
            except StorageError:
                raise
            except Exception as exc:  # a read the database refused is a 503, never a 500
                if connection_lost(exc, conn):
                    self._conn = None
                    conn.terminate()
                raise StorageError(f"the database refused the read: {describe(exc)}") from exc

    async def snapshot(self, known_pools: Collection[int]) -> Snapshot:
        """Everything the rules keep in memory, from one consistent database snapshot; a
        pool whose seq is in `known_pools` comes without its raw file (`raw == ""`)."""
        async with self._read() as db, db.transaction(isolation="repeatable_read", readonly=True):
            pool = await db.fetchrow(
                "SELECT seq, CASE WHEN seq = ANY($1::bigint[]) THEN '' ELSE raw END,"
                " ack_usage_seq, imported_at FROM pools ORDER BY seq DESC LIMIT 1",
                list(known_pools),
            )
            sessions = await db.fetch(_SESSIONS)
            last_export_at = await db.fetchval("SELECT max(created_at) FROM usage_exports")
            meta = await db.fetch("SELECT key, value FROM meta")
            peaks = await db.fetch("SELECT license, peak_sessions FROM license_stats")
            held = await db.fetch("SELECT session_id, feature, quantity FROM checkouts")
            consumed = await db.fetch("SELECT license, feature, consumed FROM consumption")
            flags = await db.fetch(
                "SELECT license, bound_context, first_activated_at, locked_at FROM license_flags"
            )
            environments = await db.fetch("SELECT auth_context, org_id FROM environments")
            offline = await db.fetch(_OFFLINE)
            newest = await db.fetchval("SELECT max(hour) FROM history_hours")
            history = []
            denials = []
            if newest is not None:
                history = await db.fetch(_NEWEST_HOUR, newest)
                denials = await db.fetch(
                    "SELECT denials FROM history_hours"
                    " WHERE hour >= $1 AND hour < $2 AND denials <> '{}'",
                    newest - newest % rows.DAY_S,
                    newest,
                )
        return rows.snapshot(
            pool=pool,
            sessions=sessions,
            meta=meta,
            peaks=peaks,
            held=held,
            consumed=consumed,
            flags=flags,
            environments=environments,
            offline_rows=offline,
            last_export_at=last_export_at,
            history=history,
            denials=denials,
        )

    async def audit(
        self,
        *,
        after: int,
        limit: int,
        **query: Unpack[AuditQuery],
    ) -> list[AuditEvent]:
        """Audit events by id range, time and type (see audit_query.py), in either order."""
        sql, params = audit_query(
            _EVENTS,
            lambda n: f"${n}",
            after=after,
            limit=limit,
            **query,
        )
        async with self._read() as db:
            found = await db.fetch(sql, *params)
        return [rows.event(r) for r in found]

    async def events_after(self, after: int) -> list[AuditEvent]:
        """Every audit event with id > `after`, oldest first."""
        async with self._read() as db:
            found = await db.fetch(f"{_EVENTS} WHERE id > $1 ORDER BY id", after)
        return [rows.event(r) for r in found]

    async def export_point(self, seq: int) -> int | None:
        """The newest event id that usage file `seq` carried, if that file was written here."""
        async with self._read() as db:
            value = await db.fetchval("SELECT last_event_id FROM usage_exports WHERE seq = $1", seq)
        return int(value) if value is not None else None

    async def meta_value(self, key: str) -> str | None:
        """One value of the meta table, if it is set."""
        async with self._read() as db:
            value = await db.fetchval("SELECT value FROM meta WHERE key = $1", key)
        return str(value) if value is not None else None

    async def committed_head(self) -> tuple[int, str | None]:
        """Id and hash of the newest audit event the database holds (pruned or not): what a
        standby reports, as the leader last committed it."""
        async with self._read() as db:
            row = await db.fetchrow("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1")
            if row is None:
                row = await db.fetchrow(
                    "SELECT (SELECT value FROM meta WHERE key = 'pruned_id'),"
                    " (SELECT value FROM meta WHERE key = 'pruned_hash')"
                )
        if row is None or row[0] is None:
            return 0, None
        return int(row[0]), str(row[1])

    async def contexts_seen(self, *, since: float) -> dict[str, dict[str, float]]:
        """Per license, each authContext that started a session or called validate (as the
        misuse job wrote it) since `since` and after the license's newest unlock, last seen."""
        seen: dict[str, dict[str, float]] = {}
        # Only unlocks inside the window matter: every event in it follows an earlier one.
        async with self._read() as db:
            found = await db.fetch(
                "WITH unlocked AS (SELECT license, max(at) AS at FROM events"
                "  WHERE type = 'license.unlocked' AND at >= $1 GROUP BY license)"
                " SELECT license, auth_context, max(at) FROM ("
                "  SELECT e.license, e.auth_context, e.at FROM events e"
                "   LEFT JOIN unlocked u ON u.license = e.license"
                "   WHERE e.type = 'session.started' AND e.at >= $1"
                "   AND (u.at IS NULL OR e.at > u.at)"
                "  UNION ALL"
                "  SELECT license, auth_context, seen_at FROM misuse_contexts WHERE seen_at >= $1"
                " ) AS seen GROUP BY license, auth_context",
                since,
            )
        for lic, ctx, at in found:
            seen.setdefault(str(lic), {})[str(ctx)] = float(at)
        return seen

    async def history(self, license: str, *, start: int, end: int) -> list[HourRow]:
        """The stored history buckets of `license` with start <= hour < end, oldest first."""
        async with self._read() as db:
            found = await db.fetch(
                f"SELECT {HISTORY_COLUMNS} FROM history_hours"  # noqa: S608 - fixed text
                " WHERE license = $1 AND hour >= $2 AND hour < $3 ORDER BY hour",
                license,
                start,
                end,
            )
        return [hour_row(r) for r in found]

    async def pool_imports(self, *, limit: int) -> list[PoolImport]:
        """The pools imported here, newest first (the raw files are not read)."""
        async with self._read() as db:
            found = await db.fetch(_POOL_IMPORTS, limit)
        return [rows.pool_import(r) for r in found]

    async def usage_files(self, *, limit: int) -> list[UsageFile]:
        """The usage files written here, newest first."""
        async with self._read() as db:
            found = await db.fetch(_USAGE_FILES, limit)
        return [rows.usage_file(r) for r in found]
