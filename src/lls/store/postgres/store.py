"""The PostgreSQL store: the Store port on PostgreSQL, for nodes that share one database.

Writes go through the leader's writer (writer.py); reads through a separate reader
connection, so an admin view never waits behind a batch nor a batch behind a view.
Every answer has the same meaning as SqliteStore's (the contract tests hold both to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any

from lls.domain.models import AuditEvent, ClientInfo, OfflineActivation, Session
from lls.domain.ports import PoolImport, Snapshot, StoredPool, UsageFile
from lls.domain.records import HourRow, Record
from lls.errors import StorageError
from lls.store.history_rows import COLUMNS as HISTORY_COLUMNS
from lls.store.history_rows import hour_row, sum_denials
from lls.store.postgres.connection import Conn, connect, describe, redact
from lls.store.postgres.identity import check_binding
from lls.store.postgres.leader import (
    LEASE_S,
    STATEMENT_TIMEOUT_S,
    TRY_INTERVAL_S,
    LeaderLock,
    advisory_key,
    connection_lost,
)
from lls.store.postgres.migrate import migrate
from lls.store.postgres.writer import PostgresWriter, State

READ_TIMEOUT_S = 30.0  # a snapshot of 100,000 sessions takes well under a second
EVENT_COLUMNS = "id, at, type, license, auth_context, data, prev_hash, hash"
LEADER_URL_KEY = "leader_url"


class PostgresStore:
    """Durable state in PostgreSQL; this node writes only while it holds the leader lock."""

    def __init__(
        self,
        url: str,
        instance_id: str,
        *,
        reload: Callable[[], Awaitable[None]] | None = None,
        on_standby: Callable[[], None] | None = None,
        lock_interval: float = TRY_INTERVAL_S,
        lease: float = LEASE_S,
        timeout: float = STATEMENT_TIMEOUT_S,
        advertise: str = "",
        check_identity: bool = True,
    ) -> None:
        self.url = url
        self.instance_id = instance_id
        self.advertise = advertise  # written as the leader's URL when this node takes over
        self.check_identity = check_identity  # refuse a copied database (identity.py)
        # Called on taking over and after a failed batch: rebuild memory from `snapshot()`.
        self.reload = reload
        self.on_standby = on_standby
        self.lock = LeaderLock(
            url,
            advisory_key(instance_id),
            interval=lock_interval,
            lease=lease,
            timeout=timeout,
            on_gained=self._gained,
            on_lost=self._lost,
        )
        self._writer = PostgresWriter(self.lock, recover=self._reload, timeout=timeout)
        self._reader: Conn | None = None
        self._reading = asyncio.Lock()

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self.url)!r})"

    # -- lifecycle and leadership -----------------------------------------------------------

    async def open(self) -> None:
        """Migrate the schema, then start competing for the leader lock (returns at once)."""
        conn = await connect(self.url, role="migrate")
        try:
            await migrate(conn)
            if self.check_identity:
                await check_binding(conn, self.instance_id)
        finally:
            await conn.close()
        await self.lock.start()

    async def close(self) -> None:
        """Commit what is queued, then release the lock and close every connection."""
        await self._writer.stop()
        await self.lock.stop()
        async with self._reading:
            if self._reader is not None:
                with contextlib.suppress(Exception):
                    await self._reader.close()
                self._reader = None

    @property
    def role(self) -> str:
        """`leader` while this node may write, else `standby` (for /readyz and `lls status`)."""
        return "leader" if self.lock.leading and self._writer.state is State.HEALTHY else "standby"

    @property
    def committed_batches(self) -> int:
        """Transactions this node's writer committed (for metrics and benchmarks)."""
        return self._writer.batches

    async def wait_writable(self, seconds: float) -> bool:
        """Wait up to `seconds` until this node leads and its writer serves; True if so."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.role != "leader":
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def _gained(self) -> None:
        await self._writer.take_over()
        if self.advertise:  # through the lock connection: only a holder names itself leader
            async with self.lock.connection() as conn:
                await conn.execute(
                    "INSERT INTO meta (key, value) VALUES ($1, $2)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    LEADER_URL_KEY,
                    self.advertise,
                    timeout=self.lock.timeout,
                )
        await self._reload()
        self._writer.serve()

    async def leader_url(self) -> str | None:
        """The advertised URL of the node that took the leader lock last (for standbys)."""
        async with self._read() as db:
            value = await db.fetchval("SELECT value FROM meta WHERE key = $1", LEADER_URL_KEY)
        return str(value) if value is not None else None

    def _lost(self, reason: BaseException | None) -> None:
        self._writer.stand_by()
        if self.on_standby is not None:
            self.on_standby()

    async def _reload(self) -> None:
        if self.reload is not None:
            await self.reload()

    # -- writes ---------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise StorageError unless this node leads and its writer is healthy (cheap, sync)."""
        self._writer.check_writable()

    @property
    def writable(self) -> bool:
        """What check_writable checks, as a bool (the port's; /readyz and metrics read it)."""
        try:
            self._writer.check_writable()
        except StorageError:
            return False
        return True

    def set_rebuild(self, rebuild: Callable[[], Awaitable[None]]) -> None:
        """The port's way to give `reload` (the rules register their rebuild this way)."""
        self.reload = rebuild

    async def commit(self, records: Sequence[Record]) -> None:
        """Make `records` durable (one group-committed transaction with others queued)."""
        await self._writer.submit(records)

    async def barrier(self) -> None:
        """Wait for writes already queued, so a read never reports uncommitted state."""
        await self._writer.barrier()

    # -- reads ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[Conn]:
        """The reader connection (opened on first use, opened again after it broke)."""
        async with self._reading:
            if self._reader is None or self._reader.is_closed():
                self._reader = await connect(
                    self.url, role="reader", command_timeout=READ_TIMEOUT_S
                )
            conn = self._reader
            try:
                yield conn
            except StorageError:
                raise
            except Exception as exc:  # a read the database refused is a 503, never a 500
                if connection_lost(exc, conn):
                    self._reader = None
                    conn.terminate()
                raise StorageError(f"the database refused the read: {describe(exc)}") from exc

    async def snapshot(self, *, wait: bool = True, known_pools: Collection[int] = ()) -> Snapshot:
        """Load what the rules keep in memory, from one consistent database snapshot.

        `wait=False` reads at once (a rebuild inside the writer's recovery); a pool whose
        seq is in `known_pools` comes without its raw file (`raw == ""`): already verified.
        """
        if wait:
            await self.barrier()
        async with self._read() as db, db.transaction(isolation="repeatable_read", readonly=True):
            pool_row = await db.fetchrow(
                "SELECT seq, CASE WHEN seq = ANY($1::bigint[]) THEN '' ELSE raw END,"
                " ack_usage_seq, imported_at FROM pools ORDER BY seq DESC LIMIT 1",
                list(known_pools),
            )
            sessions = await db.fetch(
                "SELECT id, license, auth_context, started_at, expires_at, client_address,"
                " client_hostname, client_user, client_application, client_version FROM sessions"
                " ORDER BY started_at, id"
            )
            last_export_at = await db.fetchval("SELECT max(created_at) FROM usage_exports")
            meta = await db.fetch("SELECT key, value FROM meta")
            peaks = await db.fetch("SELECT license, peak_sessions FROM license_stats")
            held = await db.fetch("SELECT session_id, feature, quantity FROM checkouts")
            consumed = await db.fetch("SELECT license, feature, consumed FROM consumption")
            flags = await db.fetch(
                "SELECT license, bound_context, first_activated_at, locked_at FROM license_flags"
            )
            environments = await db.fetch("SELECT auth_context, org_id FROM environments")
            offline = await db.fetch(
                "SELECT id, license, auth_context, device_kid, device_keys, nonce, activated_at,"
                " lease_expires_at, deactivated_at, kind FROM offline_activations ORDER BY id"
            )
            newest = await db.fetchval("SELECT max(hour) FROM history_hours")
            history: list[HourRow] = []
            history_denied: dict[str, int] = {}
            if newest is not None:
                history = [
                    hour_row(r)
                    for r in await db.fetch(
                        f"SELECT {HISTORY_COLUMNS} FROM history_hours WHERE hour = $1",  # noqa: S608
                        newest,
                    )
                ]
                history_denied = sum_denials(
                    await db.fetch(
                        "SELECT denials FROM history_hours"
                        " WHERE hour >= $1 AND hour < $2 AND denials <> '{}'",
                        newest - newest % 86_400,
                        newest,
                    )
                )
        return Snapshot(
            history=history,
            history_denied=history_denied,
            pool=StoredPool(
                seq=int(pool_row[0]),
                raw=str(pool_row[1]),
                ack_usage_seq=int(pool_row[2]),
                imported_at=float(pool_row[3]),
            )
            if pool_row is not None
            else None,
            sessions=[
                Session(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    client_address=r[5],
                    client_info=ClientInfo(*r[6:10]) if any(r[6:10]) else None,
                )
                for r in sessions
            ],
            last_export_at=float(last_export_at) if last_export_at is not None else None,
            meta={r[0]: r[1] for r in meta},
            peaks={r[0]: int(r[1]) for r in peaks},
            held=[(r[0], r[1], int(r[2])) for r in held],
            consumed={(r[0], r[1]): int(r[2]) for r in consumed},
            flags={r[0]: (r[1], r[2], r[3]) for r in flags},
            environments={r[0]: r[1] for r in environments},
            offline=[_offline(r) for r in offline],
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
        params: list[object] = [after]

        def param(value: object) -> str:
            params.append(value)
            return f"${len(params)}"

        where = ["id > $1"]
        if before is not None:
            where.append(f"id < {param(before)}")
        if since is not None:
            where.append(f"at >= {param(since)}")
        if types:
            alternatives = []
            for kind in types:
                if kind.endswith("*"):
                    escaped = kind[:-1].replace("\\", "\\\\").replace("%", "\\%")
                    pattern = param(escaped.replace("_", "\\_") + "%")
                    alternatives.append(f"type LIKE {pattern} ESCAPE '\\'")
                else:
                    alternatives.append(f"type = {param(kind)}")
            where.append("(" + " OR ".join(alternatives) + ")")
        order = "DESC" if newest_first else "ASC"
        # Every part is fixed text; the values go in as parameters.
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(where)}"  # noqa: S608
            f" ORDER BY id {order} LIMIT {param(limit)}"
        )
        async with self._read() as db:
            rows = await db.fetch(sql, *params)
        return [_event(r) for r in rows]

    async def events_after(self, after: int) -> list[AuditEvent]:
        """Every audit event with id > `after`, oldest first."""
        await self.barrier()
        async with self._read() as db:
            rows = await db.fetch(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id",  # noqa: S608
                after,
            )
        return [_event(r) for r in rows]

    async def export_point(self, seq: int) -> int | None:
        """The newest event id that usage file `seq` carried, if that file was written here."""
        async with self._read() as db:
            value = await db.fetchval("SELECT last_event_id FROM usage_exports WHERE seq = $1", seq)
        return int(value) if value is not None else None

    async def chain_head(self) -> tuple[int, str | None]:
        """Id and hash of the newest audit event ever written (pruned or not)."""
        await self.barrier()
        if self.role == "leader":
            head_id, head_hash = self._writer.head
            return head_id, head_hash if head_id else None
        async with self._read() as db:  # a standby: what the leader last committed
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
        await self.barrier()
        seen: dict[str, dict[str, float]] = {}
        # Only unlocks inside the window matter: every event in it follows an earlier one.
        async with self._read() as db:
            rows = await db.fetch(
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
        for lic, ctx, at in rows:
            seen.setdefault(str(lic), {})[str(ctx)] = float(at)
        return seen

    async def history(self, license: str, *, start: int, end: int) -> list[HourRow]:
        """The stored history buckets of `license` with start <= hour < end, oldest first."""
        async with self._read() as db:
            rows = await db.fetch(
                f"SELECT {HISTORY_COLUMNS} FROM history_hours"  # noqa: S608 - fixed text
                " WHERE license = $1 AND hour >= $2 AND hour < $3 ORDER BY hour",
                license,
                start,
                end,
            )
        return [hour_row(r) for r in rows]

    async def pool_imports(self, *, limit: int) -> list[PoolImport]:
        """The pools imported here, newest first (the raw files are not read)."""
        async with self._read() as db:
            rows = await db.fetch(
                "SELECT seq, iat, exp, org_id, ack_usage_seq, imported_at FROM pools"
                " ORDER BY seq DESC LIMIT $1",
                limit,
            )
        return [
            PoolImport(int(r[0]), float(r[1]), float(r[2]), str(r[3]), int(r[4]), float(r[5]))
            for r in rows
        ]

    async def usage_files(self, *, limit: int) -> list[UsageFile]:
        """The usage files written here, newest first."""
        async with self._read() as db:
            rows = await db.fetch(
                "SELECT seq, last_event_id, created_at FROM usage_exports"
                " ORDER BY seq DESC LIMIT $1",
                limit,
            )
        return [UsageFile(int(r[0]), int(r[1]), float(r[2])) for r in rows]


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


def _offline(r: Any) -> OfflineActivation:
    return OfflineActivation(
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
