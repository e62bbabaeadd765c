"""The one database writer: group commit, with only the fsync off the event loop.

Every durable change goes through here. Requests queue their records and
await a future. When no commit is in flight, the queue is flushed on the next
loop tick: the records of every waiting request are applied in one
`BEGIN IMMEDIATE` transaction *on the event loop thread* (statements only touch
SQLite's page cache: microseconds each), then `COMMIT` — the WAL write and
fsync with `synchronous=FULL` — runs on a dedicated thread while the loop keeps
serving. Requests that arrive meanwhile form the next batch; every future of a
batch is resolved once its COMMIT returned.

The invariant, which is what makes a failed write change nothing:

    memory == the database + the effects of the jobs queued or in flight

The rules decide in memory and queue their records in the same loop tick, so
memory runs ahead of the database by exactly the queued jobs. When a batch
fails (disk full, I/O error, the database locked past its timeout):

1. the writer stops taking writes at once: `check_writable()` raises
   StorageError, and every mutating rule calls it before it touches memory, so
   no decision is taken on state that is about to be thrown away;
2. the transaction is rolled back, and the audit chain head is read back from
   what the database holds;
3. memory is rebuilt from the database *once*, here, by the callback the rules
   gave (`set_rebuild`); this is the only place memory is ever reloaded;
4. only then is the failed batch answered — and with it every job queued
   behind it, whose decisions were taken on top of the failed one: each gets
   StorageError (503 with Retry-After); barriers (`barrier()`) simply return,
   since memory equals the database again;
5. writes are taken again only after a probe (a tiny write transaction)
   commits: after a lone failure one probe runs before the batch is answered
   (so a client's immediate retry is not refused again); failures that follow
   each other are probed with a back-off to once a second. A disk that stays
   full therefore costs one probe a second, not a rebuild per request.

Reads never wait on a failing writer: they answer from memory, which equals
the database.

Why not a writer thread that also runs the statements: measured on the target
machine, a second Python thread executing many small statements fights the
loop for the GIL on every statement (each releases and re-takes it), which cut
throughput to a third of a bare handler's. Here the GIL changes hands twice per
batch, not twice per statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lls.errors import StorageError

log = logging.getLogger(__name__)

Apply = Callable[[sqlite3.Connection, Sequence[Any]], None]
Rebuild = Callable[[], Awaitable[None]]
_Job = tuple[Sequence[Any], "asyncio.Future[None]"]
BUSY_RETRY_TIMEOUT_MS = 5000  # another process holds the write lock: wait for it off the loop
PROBE_INTERVAL_S = 0.5  # the first retry after a failure that follows another one closely
PROBE_MAX_INTERVAL_S = 1.0  # a disk that stays full is probed once a second
RETRY_AFTER_S = 1  # what a refused write tells the client


class GroupCommitWriter:
    """Serialises all writes through one connection; one COMMIT (fsync) per batch."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        apply: Apply,
        *,
        probe: Callable[[sqlite3.Connection], None],
        on_rollback: Callable[[sqlite3.Connection], None] | None = None,
        probe_interval_s: float = PROBE_INTERVAL_S,
        probe_max_interval_s: float = PROBE_MAX_INTERVAL_S,
    ) -> None:
        self._conn = conn
        self._apply = apply
        self._probe_write = probe
        self._on_rollback = on_rollback
        self._rebuild: Rebuild | None = None
        self._probe_interval_s = probe_interval_s
        self._probe_max_interval_s = max(probe_interval_s, probe_max_interval_s)
        self._pending: list[_Job] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._recovering: asyncio.Task[None] | None = None
        self._stopped = False
        # Set from the tick a batch fails until a probe commits: no write is taken.
        self._failing = False
        self._memory_current = asyncio.Event()
        self._memory_current.set()
        self._stale = False  # memory may hold effects the database does not: rebuild again
        self._last_failure_at = float("-inf")
        self.failures = 0  # batches that failed (for tests and metrics)
        self.rebuilds = 0

    def set_rebuild(self, rebuild: Rebuild) -> None:
        """Who rebuilds memory from the database after a failed batch (the rules' loader)."""
        self._rebuild = rebuild

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lls-commit")
        # Statements on the loop must never wait on a lock: a busy database is retried
        # off the loop (see _begin).
        self._conn.execute("PRAGMA busy_timeout=0")

    @property
    def writable(self) -> bool:
        return not self._failing

    def check_writable(self) -> None:
        """Raise StorageError while the last write failed and no probe has committed since."""
        if self._failing:
            raise StorageError(
                "the database does not take writes right now (disk full or I/O error);"
                " nothing was changed — retry shortly",
                retry_after_s=RETRY_AFTER_S,
            )

    async def submit(self, records: Sequence[Any]) -> None:
        """Queue records and return once they are committed (raises StorageError if not)."""
        if self._loop is None or self._stopped:
            raise StorageError("the database writer is not running")
        if self._failing:
            # A caller decided without check_writable(): its change is in memory only.
            # Refuse it, and rebuild memory again before writes are taken.
            self._stale = True
            log.error("a write was queued while the database refuses writes; memory is rebuilt")
            self.check_writable()
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((records, future))
        if self._flushing is None:
            self._flushing = self._loop.create_task(self._flush())
        await future

    async def barrier(self) -> None:
        """Wait until what memory shows is durable: writes queued so far are committed, or
        failed and memory rebuilt. Free when nothing is in flight; never raises."""
        if self._failing:
            await self._memory_current.wait()
            return
        if self._flushing is None:
            return
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending.append(((), future))
        await future

    async def drain(self) -> None:
        """Wait until no write is queued or in flight (before a clean shutdown)."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def stop(self) -> None:
        """Commit what is queued, then close the connection and the commit thread."""
        await self.drain()
        self._stopped = True
        if self._recovering is not None:
            self._recovering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovering
            self._recovering = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._conn.close()

    # -- a batch ------------------------------------------------------------------------

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let every handler of this loop tick join the batch
            while self._pending:
                batch, self._pending = self._pending, []
                error = await self._commit(batch)
                if error is None:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
                else:
                    await self._fail(batch, error)
        finally:
            self._flushing = None

    async def _commit(self, batch: list[_Job]) -> BaseException | None:
        if all(not records for records, _ in batch):
            return None
        conn = self._conn
        try:
            await self._begin()
            for records, _ in batch:
                if records:
                    self._apply(conn, records)
            assert self._loop is not None
            await self._loop.run_in_executor(self._executor, conn.execute, "COMMIT")
        except Exception as exc:  # every failure must reach the waiting requests
            self._rollback()
            return exc
        return None

    def _rollback(self) -> None:
        """SQLite may leave the transaction open after SQLITE_FULL at COMMIT: close it."""
        conn = self._conn
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if self._on_rollback is not None:
            self._on_rollback(conn)

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

    # -- failure and recovery -------------------------------------------------------------

    async def _fail(self, batch: list[_Job], error: BaseException) -> None:
        """Refuse writes, rebuild memory once, then answer the batch and all queued behind it."""
        assert self._loop is not None
        self._failing = True  # from this tick on, no rule decides on the doomed state
        self._memory_current.clear()
        self.failures += 1
        now = self._loop.time()
        quick = now - self._last_failure_at > 10 * self._probe_max_interval_s
        self._last_failure_at = now
        log.error("a write failed (%s); writes are refused until the database takes them", error)
        try:
            await self._rebuild_memory()
            # A lone failure (a constraint, a lock held too long) is often over at once:
            # probe before answering, so the client's retry is not refused again.
            if quick and not self._stale and await self._probe():
                self._failing = False
                log.warning("the database takes writes again; writes are accepted")
        finally:
            # Everything queued behind the failed batch was decided on top of it.
            failed, self._pending = batch + self._pending, []
            refusal = StorageError(
                f"the database refused the write: {error}; nothing was changed — retry shortly",
                retry_after_s=RETRY_AFTER_S,
            )
            for records, future in failed:
                if future.done():
                    continue
                if records:
                    future.set_exception(refusal)
                else:
                    future.set_result(None)  # a barrier: memory equals the database again
            self._memory_current.set()
        if self._failing:
            self._recovering = self._loop.create_task(self._recover())

    async def _rebuild_memory(self) -> None:
        if self._rebuild is None:
            return
        try:
            self.rebuilds += 1
            await self._rebuild()
            self._stale = False
        except Exception:
            self._stale = True  # tried again once a probe commits
            log.exception("rebuilding memory from the database failed; retrying after a probe")

    async def _recover(self) -> None:
        """Probe until a write commits, backing off to one probe a second."""
        delay = self._probe_interval_s
        try:
            while not self._stopped:
                await asyncio.sleep(delay)
                delay = min(2 * delay, self._probe_max_interval_s)
                if not await self._probe():
                    continue
                if self._stale:
                    await self._rebuild_memory()
                    if self._stale:
                        continue
                self._failing = False
                log.warning("the database takes writes again; writes are accepted")
                return
        finally:
            self._recovering = None

    async def _probe(self) -> bool:
        conn = self._conn
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            await self._begin()
            self._probe_write(conn)
            assert self._loop is not None
            await self._loop.run_in_executor(self._executor, conn.execute, "COMMIT")
        except Exception as exc:  # still full, or locked: try again later
            log.debug("write probe failed: %s", exc)
            self._rollback()
            return False
        return True
