"""The SQLite store: applies write records (all SQL lives here) and loads the state back."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from lls.domain.models import AuditEvent, ClientInfo, OfflineActivation, Session
from lls.domain.ports import PoolImport, Snapshot, StoredPool, UsageFile
from lls.domain.records import (
    AppendEvent,
    BindEnvironment,
    EndSession,
    ForgetContexts,
    HourRow,
    NoteContexts,
    PruneContexts,
    PruneEvents,
    PruneHistory,
    Record,
    RecordExport,
    ReleaseEnvironment,
    SaveHistory,
    SaveOffline,
    SavePool,
    SetConsumed,
    SetHeld,
    SetLicenseFlags,
    SetMeta,
    SetPeak,
    SetSessionClient,
    StartSession,
    TouchSession,
)
from lls.errors import StorageError
from lls.sealed.chain import GENESIS_HASH, chain_hash
from lls.store.connection import PRAGMAS, connect, migrate
from lls.store.history_rows import COLUMNS as HISTORY_COLUMNS
from lls.store.history_rows import hour_row, row_values, sum_denials
from lls.store.writer import PROBE_INTERVAL_S, PROBE_MAX_INTERVAL_S, GroupCommitWriter, Rebuild


class SqliteStore:
    """Durable state in one SQLite file: writes via the group-commit writer, reads via aiosqlite."""

    def __init__(
        self,
        path: Path,
        *,
        probe_interval_s: float = PROBE_INTERVAL_S,
        probe_max_interval_s: float = PROBE_MAX_INTERVAL_S,
        connection_factory: type[sqlite3.Connection] = sqlite3.Connection,
    ) -> None:
        self.path = path
        self._writer: GroupCommitWriter | None = None
        self._reader: aiosqlite.Connection | None = None
        self._probe_interval_s = probe_interval_s
        self._probe_max_interval_s = probe_max_interval_s
        self._factory = connection_factory  # tests pass one whose COMMIT fails
        self._rebuild: Rebuild | None = None
        # The head of the audit chain; owned by the writer once started.
        self._last_id = 0
        self._last_hash = GENESIS_HASH
        self._head_unknown = False

    async def open(self) -> None:
        """Create or migrate the file, then start the writer and open a reader."""
        try:
            conn = await asyncio.to_thread(self._open_writer_connection)
        except sqlite3.OperationalError as exc:  # e.g. no room for its -wal/-shm files
            raise StorageError(
                f"cannot open the database {self.path}: {exc}; is its disk full or read-only?"
                f" (df -h {self.path.parent}) — nothing was changed, start again once it opens"
            ) from None
        self._writer = GroupCommitWriter(
            conn,
            self._apply,
            probe=_probe_write,
            on_rollback=self._reread_head,
            probe_interval_s=self._probe_interval_s,
            probe_max_interval_s=self._probe_max_interval_s,
        )
        if self._rebuild is not None:
            self._writer.set_rebuild(self._rebuild)
        self._writer.start()
        self._reader = await aiosqlite.connect(self.path)
        for name, value in PRAGMAS:
            await self._reader.execute(f"PRAGMA {name}={value}")

    def _open_writer_connection(self) -> sqlite3.Connection:
        conn = connect(self.path, factory=self._factory)
        try:
            migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        self._last_id, self._last_hash = _chain_head(conn)
        return conn

    def set_rebuild(self, rebuild: Rebuild) -> None:
        """Who rebuilds memory from the database when a batch fails (see GroupCommitWriter)."""
        self._rebuild = rebuild
        if self._writer is not None:
            self._writer.set_rebuild(rebuild)

    @property
    def writable(self) -> bool:
        """False from a failed write until a probe write commits again."""
        return self._writer is None or self._writer.writable

    def check_writable(self) -> None:
        """Raise StorageError while writes are refused; cheap: the rules call it first."""
        if self._writer is not None:
            self._writer.check_writable()

    @property
    def writer(self) -> GroupCommitWriter | None:
        return self._writer

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._reader is not None:
            await self._reader.close()
            self._reader = None

    async def commit(self, records: Sequence[Record]) -> None:
        """Make `records` durable (one group-committed transaction with others queued)."""
        assert self._writer is not None, "store is not open"
        await self._writer.submit(records)

    async def barrier(self) -> None:
        """Wait for writes already queued, so a read never reports uncommitted state."""
        if self._writer is not None:
            await self._writer.barrier()

    async def drain(self) -> None:
        if self._writer is not None:
            await self._writer.drain()

    # -- the writer thread ------------------------------------------------------------

    def _reread_head(self, conn: sqlite3.Connection) -> None:
        """After a rollback the chain continues from what the database holds, nothing else."""
        try:
            self._last_id, self._last_hash = _chain_head(conn)
            self._head_unknown = False
        except sqlite3.Error:  # unreadable now: the next batch reads it first
            self._head_unknown = True

    def _apply(self, conn: sqlite3.Connection, records: Sequence[Record]) -> None:
        if self._head_unknown:  # raises while unreadable: the batch fails, nothing is chained
            self._last_id, self._last_hash = _chain_head(conn)
            self._head_unknown = False
        for record in records:
            match record:
                case TouchSession(id=sid, expires_at=expires_at):
                    conn.execute(
                        "UPDATE sessions SET expires_at = ?, extends = extends + 1 WHERE id = ?",
                        (expires_at, sid),
                    )
                case StartSession():
                    conn.execute(
                        "INSERT INTO sessions (id, license, auth_context, started_at, expires_at,"
                        " client_address, client_hostname, client_user, client_application,"
                        " client_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            record.id,
                            record.license,
                            record.auth_context,
                            record.started_at,
                            record.expires_at,
                            record.client_address,
                            *_client_columns(record.client_info),
                        ),
                    )
                case SetSessionClient():
                    conn.execute(
                        "UPDATE sessions SET client_address = ?, client_hostname = ?,"
                        " client_user = ?, client_application = ?, client_version = ?"
                        " WHERE id = ?",
                        (record.client_address, *_client_columns(record.client_info), record.id),
                    )
                case EndSession(id=sid):
                    conn.execute("DELETE FROM sessions WHERE id = ?", (sid,))
                case AppendEvent():
                    self._append_event(conn, record)
                case SavePool():
                    conn.execute(
                        "INSERT INTO pools (seq, iat, exp, org_id, ack_usage_seq, imported_at, raw)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            record.seq,
                            record.iat,
                            record.exp,
                            record.org_id,
                            record.ack_usage_seq,
                            record.imported_at,
                            record.raw,
                        ),
                    )
                    conn.execute("UPDATE pools SET raw = '' WHERE seq < ?", (record.seq,))
                case SetMeta(key=key, value=value):
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES (?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )
                case SetHeld(session_id=sid, feature=feature, quantity=quantity):
                    if quantity > 0:
                        conn.execute(
                            "INSERT INTO checkouts (session_id, feature, quantity) VALUES (?, ?, ?)"
                            " ON CONFLICT (session_id, feature) DO UPDATE"
                            " SET quantity = excluded.quantity",
                            (sid, feature, quantity),
                        )
                    else:
                        conn.execute(
                            "DELETE FROM checkouts WHERE session_id = ? AND feature = ?",
                            (sid, feature),
                        )
                case SetConsumed(license=license_token, feature=feature, consumed=consumed):
                    conn.execute(
                        "INSERT INTO consumption (license, feature, consumed) VALUES (?, ?, ?)"
                        " ON CONFLICT (license, feature) DO UPDATE"
                        " SET consumed = excluded.consumed",
                        (license_token, feature, consumed),
                    )
                case SetLicenseFlags():
                    conn.execute(
                        "INSERT INTO license_flags"
                        " (license, bound_context, first_activated_at, locked_at)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (license) DO UPDATE SET"
                        " bound_context = excluded.bound_context,"
                        " first_activated_at = excluded.first_activated_at,"
                        " locked_at = excluded.locked_at",
                        (
                            record.license,
                            record.bound_context,
                            record.first_activated_at,
                            record.locked_at,
                        ),
                    )
                case BindEnvironment(auth_context=ctx, org_id=org_id, bound_at=bound_at):
                    conn.execute(
                        "INSERT INTO environments (auth_context, org_id, bound_at) VALUES (?, ?, ?)"
                        " ON CONFLICT (auth_context) DO NOTHING",
                        (ctx, org_id, bound_at),
                    )
                case ReleaseEnvironment(auth_context=ctx):
                    conn.execute("DELETE FROM environments WHERE auth_context = ?", (ctx,))
                case SaveOffline():
                    conn.execute(
                        "INSERT OR REPLACE INTO offline_activations (id, license, auth_context,"
                        " device_kid, device_keys, nonce, activated_at, lease_expires_at,"
                        " deactivated_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            record.id,
                            record.license,
                            record.auth_context,
                            record.device_kid,
                            json.dumps(record.device_keys),
                            record.nonce,
                            record.activated_at,
                            record.lease_expires_at,
                            record.deactivated_at,
                            record.kind,
                        ),
                    )
                case RecordExport():
                    conn.execute(
                        "INSERT INTO usage_exports (seq, last_event_id, chain_head, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        (record.seq, record.last_event_id, record.chain_head, record.created_at),
                    )
                case PruneEvents(up_to_id=up_to):
                    self._prune(conn, up_to)
                case NoteContexts(seen=seen):
                    conn.executemany(
                        "INSERT INTO misuse_contexts (license, auth_context, seen_at)"
                        " VALUES (?, ?, ?) ON CONFLICT (license, auth_context) DO UPDATE"
                        " SET seen_at = max(seen_at, excluded.seen_at)",
                        seen,
                    )
                case PruneContexts(before=before):
                    conn.execute("DELETE FROM misuse_contexts WHERE seen_at < ?", (before,))
                case ForgetContexts(license=license_token):
                    conn.execute("DELETE FROM misuse_contexts WHERE license = ?", (license_token,))
                case SaveHistory(rows=rows):
                    conn.executemany(
                        f"INSERT INTO history_hours ({HISTORY_COLUMNS})"  # noqa: S608 - fixed text
                        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (license, hour) DO UPDATE SET"
                        " peak_sessions = excluded.peak_sessions, started = excluded.started,"
                        " denials = excluded.denials, peak_units = excluded.peak_units,"
                        " consumed = excluded.consumed",
                        [row_values(r) for r in rows],
                    )
                case PruneHistory(before=before):
                    conn.execute("DELETE FROM history_hours WHERE hour < ?", (before,))
                case SetPeak(license=license_token, peak_sessions=peak):
                    conn.execute(
                        "INSERT INTO license_stats (license, peak_sessions) VALUES (?, ?)"
                        " ON CONFLICT (license) DO UPDATE SET peak_sessions ="
                        " max(peak_sessions, excluded.peak_sessions)",
                        (license_token, peak),
                    )

    def _prune(self, conn: sqlite3.Connection, up_to: int) -> None:
        """Delete acknowledged events, remembering the newest one's hash for the chain."""
        row = conn.execute(
            "SELECT id, hash FROM events WHERE id <= ? ORDER BY id DESC LIMIT 1", (up_to,)
        ).fetchone()
        if row is None:
            return
        for key, value in (("pruned_id", str(row[0])), ("pruned_hash", str(row[1]))):
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        conn.execute("DELETE FROM events WHERE id <= ?", (up_to,))

    def _append_event(self, conn: sqlite3.Connection, event: AppendEvent) -> None:
        event_id = self._last_id + 1
        digest = chain_hash(
            prev_hash=self._last_hash,
            event_id=event_id,
            at=event.at,
            type=event.type,
            license=event.license,
            auth_context=event.auth_context,
            data=event.data,
        )
        conn.execute(
            "INSERT INTO events (id, at, type, license, auth_context, data, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                event.at,
                event.type,
                event.license,
                event.auth_context,
                _json_encode(event.data),
                self._last_hash,
                digest,
            ),
        )
        self._last_id, self._last_hash = event_id, digest

    # -- reads --------------------------------------------------------------------------

    def _db(self) -> aiosqlite.Connection:
        assert self._reader is not None, "store is not open"
        return self._reader

    async def snapshot(self, *, wait: bool = True, known_pools: Collection[int] = ()) -> Snapshot:
        """Load what the rules keep in memory: newest pool, live sessions, meta, peaks.

        `wait=False` reads at once (the writer's own rebuild); a pool whose seq is in
        `known_pools` comes without its raw file (`raw == ""`): the caller verified it.
        """
        if wait:
            await self.barrier()
        db = self._db()
        await db.execute("BEGIN")  # one read transaction: every table as of one commit
        try:
            return await self._read_snapshot(db, known_pools)
        finally:
            await db.execute("ROLLBACK")

    async def _read_snapshot(
        self, db: aiosqlite.Connection, known_pools: Collection[int]
    ) -> Snapshot:
        pool: StoredPool | None = None
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
            pool = StoredPool(
                seq=seq, raw=raw, ack_usage_seq=int(row[1]), imported_at=float(row[2])
            )
        async with db.execute(
            "SELECT id, license, auth_context, started_at, expires_at, client_address,"
            " client_hostname, client_user, client_application, client_version FROM sessions"
        ) as cur:
            sessions = [
                Session(
                    id=str(r[0]),
                    license=str(r[1]),
                    auth_context=str(r[2]),
                    started_at=float(r[3]),
                    expires_at=float(r[4]),
                    client_address=r[5],
                    client_info=ClientInfo(*r[6:10]) if any(r[6:10]) else None,
                )
                for r in await cur.fetchall()
            ]
        async with db.execute("SELECT key, value FROM meta") as cur:
            meta = {str(r[0]): str(r[1]) for r in await cur.fetchall()}
        async with db.execute("SELECT license, peak_sessions FROM license_stats") as cur:
            peaks = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
        async with db.execute("SELECT session_id, feature, quantity FROM checkouts") as cur:
            held = [(str(r[0]), str(r[1]), int(r[2])) for r in await cur.fetchall()]
        async with db.execute("SELECT license, feature, consumed FROM consumption") as cur:
            consumed = {(str(r[0]), str(r[1])): int(r[2]) for r in await cur.fetchall()}
        async with db.execute(
            "SELECT license, bound_context, first_activated_at, locked_at FROM license_flags"
        ) as cur:
            flags = {str(r[0]): (r[1], r[2], r[3]) for r in await cur.fetchall()}
        async with db.execute("SELECT auth_context, org_id FROM environments") as cur:
            environments = {str(r[0]): str(r[1]) for r in await cur.fetchall()}
        async with db.execute(
            "SELECT id, license, auth_context, device_kid, device_keys, nonce, activated_at,"
            " lease_expires_at, deactivated_at, kind FROM offline_activations"
        ) as cur:
            offline = [
                OfflineActivation(
                    id=str(r[0]),
                    license=str(r[1]),
                    auth_context=str(r[2]),
                    device_kid=str(r[3]),
                    device_keys=json.loads(r[4]),
                    nonce=str(r[5]),
                    activated_at=float(r[6]),
                    lease_expires_at=float(r[7]),
                    deactivated_at=float(r[8]) if r[8] is not None else None,
                    kind=str(r[9]),
                )
                for r in await cur.fetchall()
            ]
        async with db.execute("SELECT max(created_at) FROM usage_exports") as cur:
            row = await cur.fetchone()
            last_export_at = float(row[0]) if row is not None and row[0] is not None else None
        history, history_denied = await _open_history(db)
        return Snapshot(
            history=history,
            history_denied=history_denied,
            last_export_at=last_export_at,
            offline=offline,
            pool=pool,
            sessions=sessions,
            meta=meta,
            peaks=peaks,
            held=held,
            consumed=consumed,
            flags=flags,
            environments=environments,
        )

    async def audit(
        self,
        *,
        after: int,
        limit: int,
        before: int | None = None,
        since: float | None = None,
        types: Sequence[str] = (),
        newest_first: bool = False,
    ) -> list[AuditEvent]:
        """Audit events with `after` < id < `before`, at or after `since`, of `types`
        (exact, or a prefix ending in `*`), oldest first or newest first."""
        await self.barrier()
        where: list[str] = ["id > ?"]
        params: list[object] = [after]
        if before is not None:
            where.append("id < ?")
            params.append(before)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if types:
            alternatives = []
            for kind in types:
                if kind.endswith("*"):
                    escaped = kind[:-1].replace("\\", "\\\\").replace("%", "\\%")
                    alternatives.append("type LIKE ? ESCAPE '\\'")
                    params.append(escaped.replace("_", "\\_") + "%")
                else:
                    alternatives.append("type = ?")
                    params.append(kind)
            where.append("(" + " OR ".join(alternatives) + ")")
        order = "DESC" if newest_first else "ASC"
        # Every part is fixed text; the values go in as parameters.
        sql = (
            "SELECT id, at, type, license, auth_context, data, prev_hash, hash FROM events"  # noqa: S608
            f" WHERE {' AND '.join(where)} ORDER BY id {order} LIMIT ?"
        )
        async with self._db().execute(
            sql,
            (*params, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [_event(r) for r in rows]

    async def events_after(self, after: int) -> list[AuditEvent]:
        """Every audit event with id > `after`, oldest first."""
        await self.barrier()
        async with self._db().execute(
            "SELECT id, at, type, license, auth_context, data, prev_hash, hash FROM events"
            " WHERE id > ? ORDER BY id",
            (after,),
        ) as cur:
            return [_event(r) for r in await cur.fetchall()]

    async def export_point(self, seq: int) -> int | None:
        async with self._db().execute(
            "SELECT last_event_id FROM usage_exports WHERE seq = ?", (seq,)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row is not None else None

    async def chain_head(self) -> tuple[int, str | None]:
        """The writer's head: the newest event ever appended, even if it was pruned."""
        await self.barrier()
        return self._last_id, self._last_hash if self._last_id else None

    async def contexts_seen(self, *, since: float) -> dict[str, dict[str, float]]:
        """Per license, each authContext that started a session or called validate (as the
        misuse job wrote it) since `since` and after the license's newest unlock, last seen."""
        await self.barrier()
        seen: dict[str, dict[str, float]] = {}
        # Only unlocks inside the window matter: every event in it follows an earlier one.
        async with self._db().execute(
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

    async def history(self, license: str, *, start: int, end: int) -> list[HourRow]:
        """The stored history buckets of `license` with start <= hour < end, oldest first."""
        async with self._db().execute(
            f"SELECT {HISTORY_COLUMNS} FROM history_hours"  # noqa: S608 - fixed text
            " WHERE license = ? AND hour >= ? AND hour < ? ORDER BY hour",
            (license, start, end),
        ) as cur:
            return [hour_row(r) for r in await cur.fetchall()]

    async def pool_imports(self, *, limit: int) -> list[PoolImport]:
        """The pools imported here, newest first (the raw files are not read)."""
        async with self._db().execute(
            "SELECT seq, iat, exp, org_id, ack_usage_seq, imported_at FROM pools"
            " ORDER BY seq DESC LIMIT ?",
            (limit,),
        ) as cur:
            return [
                PoolImport(int(r[0]), float(r[1]), float(r[2]), str(r[3]), int(r[4]), float(r[5]))
                for r in await cur.fetchall()
            ]

    async def usage_files(self, *, limit: int) -> list[UsageFile]:
        """The usage files written here, newest first."""
        async with self._db().execute(
            "SELECT seq, last_event_id, created_at FROM usage_exports ORDER BY seq DESC LIMIT ?",
            (limit,),
        ) as cur:
            return [UsageFile(int(r[0]), int(r[1]), float(r[2])) for r in await cur.fetchall()]


async def _open_history(db: aiosqlite.Connection) -> tuple[list[HourRow], dict[str, int]]:
    """The newest stored hour's buckets, and the denials of its day before it."""
    async with db.execute("SELECT max(hour) FROM history_hours") as cur:
        row = await cur.fetchone()
    if row is None or row[0] is None:
        return [], {}
    newest = int(row[0])
    async with db.execute(
        f"SELECT {HISTORY_COLUMNS} FROM history_hours WHERE hour = ?",  # noqa: S608
        (newest,),
    ) as cur:
        rows = [hour_row(r) for r in await cur.fetchall()]
    async with db.execute(
        "SELECT denials FROM history_hours WHERE hour >= ? AND hour < ? AND denials <> '{}'",
        (newest - newest % 86_400, newest),
    ) as cur:
        denied = sum_denials(await cur.fetchall())
    return rows, denied


_json_encode = msgspec.json.Encoder().encode


def _chain_head(conn: sqlite3.Connection) -> tuple[int, str]:
    """Id and hash of the newest event ever committed (kept in meta once all are pruned)."""
    row = conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:  # every event pruned after acknowledgement: the head lives in meta
        row = conn.execute(
            "SELECT (SELECT value FROM meta WHERE key = 'pruned_id'),"
            " (SELECT value FROM meta WHERE key = 'pruned_hash')"
        ).fetchone()
        if row[0] is None:
            return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


def _probe_write(conn: sqlite3.Connection) -> None:
    """The writer's probe after a failure: one small real write, to see the disk takes it."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('writer_probe', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (repr(time.time()),),
    )


def _client_columns(info: ClientInfo | None) -> tuple[str | None, ...]:
    """clientInfo as the sessions table's four columns."""
    if info is None:
        return (None, None, None, None)
    return (info.hostname, info.user, info.application, info.version)


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=int(row[0]),
        at=float(row[1]),
        type=str(row[2]),
        license=row[3],
        auth_context=row[4],
        data=json.loads(row[5]),
        prev_hash=row[6],
        hash=row[7],
    )
