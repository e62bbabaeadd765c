"""The one database writer: group commit, with only the fsync off the event loop.

Every durable change goes through here. Requests queue their records and
await a future. When no commit is in flight, the queue is flushed on the next
loop tick: the records of every waiting request are applied in one
`BEGIN IMMEDIATE` transaction *on the event loop thread* (statements only touch
SQLite's page cache: microseconds each), then `COMMIT` — the WAL write and
fsync with `synchronous=FULL` — runs on a dedicated thread while the loop keeps
serving. Requests that arrive meanwhile form the next batch; every future of a
batch is resolved once its COMMIT returned.

Why not a writer thread that also runs the statements: measured on the target
machine, a second Python thread executing many small statements fights the
loop for the GIL on every statement (each releases and re-takes it), which cut
throughput to a third of a bare handler's. Here the GIL changes hands twice per
batch, not twice per statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lls.errors import StorageError

Apply = Callable[[sqlite3.Connection, Sequence[Any]], None]
_Job = tuple[Sequence[Any], "asyncio.Future[None]"]
BUSY_RETRY_TIMEOUT_MS = 5000  # another process holds the write lock: wait for it off the loop


class GroupCommitWriter:
    """Serialises all writes through one connection; one COMMIT (fsync) per batch."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        apply: Apply,
        *,
        on_begin: Callable[[], None] | None = None,
        on_rollback: Callable[[], None] | None = None,
    ) -> None:
        self._conn = conn
        self._apply = apply
        self._on_begin = on_begin
        self._on_rollback = on_rollback
        self._pending: list[_Job] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lls-commit")
        # Statements on the loop must never wait on a lock: a busy database is retried
        # off the loop (see _begin).
        self._conn.execute("PRAGMA busy_timeout=0")

    async def submit(self, records: Sequence[Any]) -> None:
        """Queue records and return once they are committed (raises StorageError if not)."""
        if self._loop is None or self._stopped:
            raise StorageError("the database writer is not running")
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((records, future))
        if self._flushing is None:
            self._flushing = self._loop.create_task(self._flush())
        await future

    async def barrier(self) -> None:
        """Wait until everything queued so far is committed; free when nothing is in flight."""
        if self._flushing is not None:
            await self.submit(())

    async def drain(self) -> None:
        """Wait until no write is queued or in flight (before a clean shutdown)."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def stop(self) -> None:
        """Commit what is queued, then close the connection and the commit thread."""
        await self.drain()
        self._stopped = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._conn.close()

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let every handler of this loop tick join the batch
            while self._pending:
                batch, self._pending = self._pending, []
                error = await self._commit(batch)
                for _, future in batch:
                    if future.done():
                        continue
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(
                            StorageError(f"the database refused the write: {error}")
                        )
        finally:
            self._flushing = None

    async def _commit(self, batch: list[_Job]) -> BaseException | None:
        if all(not records for records, _ in batch):
            return None
        conn = self._conn
        try:
            if self._on_begin is not None:
                self._on_begin()
            await self._begin()
            for records, _ in batch:
                if records:
                    self._apply(conn, records)
            assert self._loop is not None
            await self._loop.run_in_executor(self._executor, conn.execute, "COMMIT")
        except Exception as exc:  # every failure must reach the waiting requests
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if self._on_rollback is not None:
                self._on_rollback()
            return exc
        return None

    async def _begin(self) -> None:
        """Take the write lock; if another process holds it, wait for it on the commit thread."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            assert self._loop is not None
            await self._loop.run_in_executor(self._executor, self._begin_waiting)

    def _begin_waiting(self) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout={BUSY_RETRY_TIMEOUT_MS}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        finally:
            conn.execute("PRAGMA busy_timeout=0")
