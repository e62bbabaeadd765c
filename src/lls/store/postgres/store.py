"""The PostgreSQL store: the Store port on PostgreSQL, for nodes that share one database.

The class wires the parts together and follows leadership: the schema is migrated by
migrate.py and the database's identity checked by identity.py; writes go through the
leader's writer (writer.py, which plans its statements with plan.py) while this node
holds the lock (leader.py); reads go through a separate reader connection (reads.py).
Every answer has the same meaning as SqliteStore's (the contract tests hold both to it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Unpack

from lls.domain.models import AuditEvent
from lls.domain.ports import AuditQuery, PoolImport, Snapshot, UsageFile
from lls.domain.records import HourRow, Record
from lls.errors import StorageError
from lls.store.postgres.connection import connect, redact
from lls.store.postgres.identity import check_binding
from lls.store.postgres.leader import (
    LEASE_S,
    STATEMENT_TIMEOUT_S,
    TRY_INTERVAL_S,
    LeaderLock,
    advisory_key,
)
from lls.store.postgres.migrate import migrate
from lls.store.postgres.reads import Reader
from lls.store.postgres.writer import PostgresWriter, State

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
        self._reads = Reader(url)

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
        await self._reads.close()

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
        return await self._reads.meta_value(LEADER_URL_KEY)

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

    # -- reads (each waits for queued writes where the port wants it) ---------------------

    async def snapshot(self, *, wait: bool = True, known_pools: Collection[int] = ()) -> Snapshot:
        """Load what the rules keep in memory, from one consistent database snapshot.

        `wait=False` reads at once (a rebuild inside the writer's recovery); a pool whose
        seq is in `known_pools` comes without its raw file (`raw == ""`): already verified.
        """
        if wait:
            await self.barrier()
        return await self._reads.snapshot(known_pools)

    async def audit(
        self,
        *,
        after: int,
        limit: int,
        **query: Unpack[AuditQuery],
    ) -> list[AuditEvent]:
        """Audit events with `after` < id < `before`, at or after `since`, of `types`
        (exact, or a prefix ending in `*`), oldest first or newest first."""
        await self.barrier()
        return await self._reads.audit(
            after=after,
            limit=limit,
            **query,
        )

    async def events_after(self, after: int) -> list[AuditEvent]:
        """Every audit event with id > `after`, oldest first."""
        await self.barrier()
        return await self._reads.events_after(after)

    async def export_point(self, seq: int) -> int | None:
        """The newest event id that usage file `seq` carried, if that file was written here."""
        return await self._reads.export_point(seq)

    async def chain_head(self) -> tuple[int, str | None]:
        """Id and hash of the newest audit event ever written (pruned or not)."""
        await self.barrier()
        if self.role == "leader":
            head_id, head_hash = self._writer.head
            return head_id, head_hash if head_id else None
        return await self._reads.committed_head()  # a standby: what the leader last committed

    async def contexts_seen(self, *, since: float) -> dict[str, dict[str, float]]:
        """Per license, each authContext that started a session or called validate (as the
        misuse job wrote it) since `since` and after the license's newest unlock, last seen."""
        await self.barrier()
        return await self._reads.contexts_seen(since=since)

    async def history(self, license: str, *, start: int, end: int) -> list[HourRow]:
        """The stored history buckets of `license` with start <= hour < end, oldest first."""
        return await self._reads.history(license, start=start, end=end)

    async def pool_imports(self, *, limit: int) -> list[PoolImport]:
        """The pools imported here, newest first (the raw files are not read)."""
        return await self._reads.pool_imports(limit=limit)

    async def usage_files(self, *, limit: int) -> list[UsageFile]:
        """The usage files written here, newest first."""
        return await self._reads.usage_files(limit=limit)
