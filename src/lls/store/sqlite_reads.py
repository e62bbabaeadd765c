"""The SQLite read queries: plain functions over the store's reader connection.

SqliteStore answers the Store port's reads with these (after waiting for queued writes
where the port wants it); they only run SQL and hand the rows to `rows.py`, which turns
them into domain models the same way for both stores.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Unpack

import aiosqlite

from lls.domain.models import AuditEvent
from lls.domain.ports import AuditQuery, PoolImport, Snapshot, UsageFile
from lls.domain.records import HourRow
from lls.store import rows
from lls.store.audit_query import audit_query
from lls.store.history_rows import COLUMNS as HISTORY_COLUMNS
from lls.store.history_rows import hour_row

# Fixed text only (the column lists are constants); values go in as parameters.
_SESSIONS = f"SELECT {rows.SESSION_COLUMNS} FROM sessions"  # noqa: S608
_OFFLINE = f"SELECT {rows.OFFLINE_COLUMNS} FROM offline_activations"  # noqa: S608
_EVENTS = f"SELECT {rows.EVENT_COLUMNS} FROM events"  # noqa: S608
_NEWEST_HOUR = f"SELECT {HISTORY_COLUMNS} FROM history_hours WHERE hour = ?"  # noqa: S608
_POOL_IMPORTS = f"SELECT {rows.POOL_IMPORT_COLUMNS} FROM pools ORDER BY seq DESC LIMIT ?"  # noqa: S608
_USAGE_FILES = f"SELECT {rows.USAGE_FILE_COLUMNS} FROM usage_exports ORDER BY seq DESC LIMIT ?"  # noqa: S608


async def snapshot(db: aiosqlite.Connection, known_pools: Collection[int]) -> Snapshot:
    """Everything the rules keep in memory, every table as of one commit; a pool whose
    seq is in `known_pools` comes without its raw file (`raw == ""`)."""
    await db.execute("BEGIN")  # one read transaction: every table as of one commit
    try:
        return await _read_snapshot(db, known_pools)
    finally:
        await db.execute("ROLLBACK")


async def _read_snapshot(db: aiosqlite.Connection, known_pools: Collection[int]) -> Snapshot:
    pool: tuple[Any, ...] | None = None
    async with db.execute(
        "SELECT seq, ack_usage_seq, imported_at FROM pools ORDER BY seq DESC LIMIT 1"
    ) as cur:
        row = await cur.fetchone()
    if row is not None:
        seq = int(row[0])
        raw = ""
        if seq not in known_pools:
            async with db.execute("SELECT raw FROM pools WHERE seq = ?", (seq,)) as cur:
                raw_row = await cur.fetchone()
            raw = str(raw_row[0]) if raw_row is not None else ""
        pool = (seq, raw, row[1], row[2])
    async with db.execute("SELECT max(created_at) FROM usage_exports") as cur:
        row = await cur.fetchone()
    history, denials = await _open_history(db)
    return rows.snapshot(
        pool=pool,
        sessions=await _all(db, _SESSIONS),
        meta=await _all(db, "SELECT key, value FROM meta"),
        peaks=await _all(db, "SELECT license, peak_sessions FROM license_stats"),
        held=await _all(db, "SELECT session_id, feature, quantity FROM checkouts"),
        consumed=await _all(db, "SELECT license, feature, consumed FROM consumption"),
        flags=await _all(
            db, "SELECT license, bound_context, first_activated_at, locked_at FROM license_flags"
        ),
        environments=await _all(db, "SELECT auth_context, org_id FROM environments"),
        offline_rows=await _all(db, _OFFLINE),
        last_export_at=row[0] if row is not None else None,
        history=history,
        denials=denials,
    )


async def _all(db: aiosqlite.Connection, sql: str, params: Sequence[object] = ()) -> list[Any]:
    async with db.execute(sql, params) as cur:
        return list(await cur.fetchall())


async def _open_history(db: aiosqlite.Connection) -> tuple[list[Any], list[Any]]:
    """The newest stored hour's rows, and the denials of its day before it."""
    async with db.execute("SELECT max(hour) FROM history_hours") as cur:
        row = await cur.fetchone()
    if row is None or row[0] is None:
        return [], []
    newest = int(row[0])
    denials = await _all(
        db,
        "SELECT denials FROM history_hours WHERE hour >= ? AND hour < ? AND denials <> '{}'",
        (newest - newest % rows.DAY_S, newest),
    )
    return await _all(db, _NEWEST_HOUR, (newest,)), denials


async def audit(
    db: aiosqlite.Connection,
    *,
    after: int,
    limit: int,
    **query: Unpack[AuditQuery],
) -> list[AuditEvent]:
    """Audit events by id range, time and type (see audit_query.py), in either order."""
    sql, params = audit_query(
        _EVENTS,
        lambda _: "?",
        after=after,
        limit=limit,
        **query,
    )
    return [rows.event(r) for r in await _all(db, sql, params)]


async def events_after(db: aiosqlite.Connection, after: int) -> list[AuditEvent]:
    """Every audit event with id > `after`, oldest first."""
    return [rows.event(r) for r in await _all(db, f"{_EVENTS} WHERE id > ? ORDER BY id", (after,))]


async def export_point(db: aiosqlite.Connection, seq: int) -> int | None:
    """The newest event id that usage file `seq` carried, if that file was written here."""
    async with db.execute("SELECT last_event_id FROM usage_exports WHERE seq = ?", (seq,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else None


async def contexts_seen(db: aiosqlite.Connection, *, since: float) -> dict[str, dict[str, float]]:
    """Per license, each authContext that started a session or called validate (as the
    misuse job wrote it) since `since` and after the license's newest unlock, last seen."""
    seen: dict[str, dict[str, float]] = {}
    # Only unlocks inside the window matter: every event in it follows an earlier one.
    async with db.execute(
        "WITH unlocked AS (SELECT license, max(at) AS at FROM events"
        "  WHERE type = 'license.unlocked' AND at >= ? GROUP BY license)"
        " SELECT license, auth_context, max(at) FROM ("
        "  SELECT e.license, e.auth_context, e.at FROM events e"
        "   LEFT JOIN unlocked u ON u.license = e.license"
        "   WHERE e.type = 'session.started' AND e.at >= ? AND (u.at IS NULL OR e.at > u.at)"
        "  UNION ALL"
        "  SELECT license, auth_context, seen_at FROM misuse_contexts WHERE seen_at >= ?"
        " ) GROUP BY license, auth_context",
        (since, since, since),
    ) as cur:
        for lic, ctx, at in await cur.fetchall():
            seen.setdefault(str(lic), {})[str(ctx)] = float(at)
    return seen


async def history(db: aiosqlite.Connection, license: str, *, start: int, end: int) -> list[HourRow]:
    """The stored history buckets of `license` with start <= hour < end, oldest first."""
    found = await _all(
        db,
        f"SELECT {HISTORY_COLUMNS} FROM history_hours"  # noqa: S608 - fixed text
        " WHERE license = ? AND hour >= ? AND hour < ? ORDER BY hour",
        (license, start, end),
    )
    return [hour_row(r) for r in found]


async def pool_imports(db: aiosqlite.Connection, *, limit: int) -> list[PoolImport]:
    """The pools imported here, newest first (the raw files are not read)."""
    return [rows.pool_import(r) for r in await _all(db, _POOL_IMPORTS, (limit,))]


async def usage_files(db: aiosqlite.Connection, *, limit: int) -> list[UsageFile]:
    """The usage files written here, newest first."""
    return [rows.usage_file(r) for r in await _all(db, _USAGE_FILES, (limit,))]
