"""The SQLite store: the Store port on one SQLite file.

The class only wires the parts together: the file is opened and migrated by
connection.py, batches are group-committed by writer.py, which runs sqlite_apply.py's
`Applier` on its thread, and reads go through a separate aiosqlite connection to the
queries of sqlite_reads.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Unpack

import aiosqlite

from lls.domain.models import AuditEvent
from lls.domain.ports import AuditQuery, PoolImport, Snapshot, UsageFile
from lls.domain.records import HourRow, Record
from lls.errors import StorageError
from lls.store import sqlite_reads
from lls.store.connection import PRAGMAS, connect, migrate
from lls.store.sqlite_apply import Applier, probe_write
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
        # The write path and the head of the audit chain; owned by the writer once started.
        self._applier = Applier()

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
            self._applier.apply,
            probe=probe_write,
            on_rollback=self._applier.reread_head,
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
        self._applier.start_from(conn)
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

    # -- reads ------------------------------------------------------------------------

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
        return await sqlite_reads.snapshot(self._db(), known_pools)

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
        return await sqlite_reads.audit(
            self._db(),
            after=after,
            limit=limit,
            **query,
        )

    async def events_after(self, after: int) -> list[AuditEvent]:
        """Every audit event with id > `after`, oldest first."""
        await self.barrier()
        return await sqlite_reads.events_after(self._db(), after)

    async def export_point(self, seq: int) -> int | None:
        return await sqlite_reads.export_point(self._db(), seq)

    async def chain_head(self) -> tuple[int, str | None]:
        """The writer's head: the newest event ever appended, even if it was pruned."""
        await self.barrier()
        head_id, head_hash = self._applier.last_id, self._applier.last_hash
        return head_id, head_hash if head_id else None

    async def contexts_seen(self, *, since: float) -> dict[str, dict[str, float]]:
        """Per license, each authContext that started a session or called validate (as the
        misuse job wrote it) since `since` and after the license's newest unlock, last seen."""
        await self.barrier()
        return await sqlite_reads.contexts_seen(self._db(), since=since)

    async def history(self, license: str, *, start: int, end: int) -> list[HourRow]:
        """The stored history buckets of `license` with start <= hour < end, oldest first."""
        return await sqlite_reads.history(self._db(), license, start=start, end=end)

    async def pool_imports(self, *, limit: int) -> list[PoolImport]:
        """The pools imported here, newest first (the raw files are not read)."""
        return await sqlite_reads.pool_imports(self._db(), limit=limit)

    async def usage_files(self, *, limit: int) -> list[UsageFile]:
        """The usage files written here, newest first."""
        return await sqlite_reads.usage_files(self._db(), limit=limit)
