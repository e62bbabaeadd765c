"""The one PostgreSQL writer: group commit through the leader lock's own connection.

Requests queue their records and await a future; when no commit is in flight the queue is
flushed on the next loop tick: the records of every waiting request are planned into
runs (plan.py) and sent in one transaction — BEGIN, one round trip per run, COMMIT with
`synchronous_commit=on` — on the connection that holds the leader lock. Every future of a
batch is resolved only after its COMMIT returned; requests that arrive meanwhile form the
next batch.

Fencing: there is no other connection that writes. A COMMIT can only succeed on a live
server session, and a live session still holds the lock, so a node that lost the lock
cannot acknowledge anything the next leader will not see.

Failure (the semantics of the SQLite writer): when a batch fails — a statement, the
COMMIT, or the connection — that batch and every job queued behind it fail with
StorageError (503), nothing of them is acknowledged, and the writer accepts no new batch
until memory was rebuilt from the database exactly once: by `recover` while this node
still leads, or by the leader take-over (which reloads anyway) when the failure cost the
lock. `check_writable()` refuses meanwhile, so the domain refuses before it decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Sequence

from lls.domain.records import Record
from lls.errors import StorageError
from lls.sealed.chain import GENESIS_HASH
from lls.store.postgres.connection import describe
from lls.store.postgres.leader import LeaderLock, NotLeader
from lls.store.postgres.plan import Head, plan

log = logging.getLogger(__name__)

_Job = tuple[Sequence[Record], "asyncio.Future[None]"]
COMMIT_TIMEOUT_S = 5.0  # a batch not committed in 5 s: the link or the server is gone

HEAD_QUERY = """
SELECT id, hash FROM events ORDER BY id DESC LIMIT 1
"""
PRUNED_HEAD_QUERY = """
SELECT (SELECT value FROM meta WHERE key = 'pruned_id'),
       (SELECT value FROM meta WHERE key = 'pruned_hash')
"""


class State(enum.Enum):
    STANDBY = "standby"  # not holding the lock: refuses every write
    LOADING = "loading"  # took the lock; reading the chain head and rebuilding memory
    HEALTHY = "healthy"  # leading, accepting batches
    RECOVERING = "recovering"  # a batch failed: rebuilding memory once before the next
    STOPPED = "stopped"


class PostgresWriter:
    """Serialises every write through the leader connection; one COMMIT per batch."""

    def __init__(
        self,
        lock: LeaderLock,
        *,
        recover: Callable[[], Awaitable[None]] | None = None,
        timeout: float = COMMIT_TIMEOUT_S,
    ) -> None:
        self._lock = lock
        self._recover = recover
        self._timeout = timeout
        self._pending: list[_Job] = []
        self._flushing: asyncio.Task[None] | None = None
        self._recovering: asyncio.Task[None] | None = None
        self.state = State.STANDBY
        self.head: Head = (0, GENESIS_HASH)
        self.batches = 0  # committed batches, for tests and metrics

    # -- leadership (called by the store from the lock's callbacks) -----------------------

    async def take_over(self) -> None:
        """Leader lock gained: load the chain head through the lock connection."""
        self.state = State.LOADING
        async with self._lock.connection() as conn:
            row = await conn.fetchrow(HEAD_QUERY, timeout=self._timeout)
            if row is None:  # every event pruned after acknowledgement: the head lives in meta
                row = await conn.fetchrow(PRUNED_HEAD_QUERY, timeout=self._timeout)
                row = row if row is not None and row[0] is not None else None
        self.head = (int(row[0]), str(row[1])) if row is not None else (0, GENESIS_HASH)

    def serve(self) -> None:
        """Memory matches the database: accept batches."""
        if self._lock.held and self.state is State.LOADING:
            self.state = State.HEALTHY

    def stand_by(self) -> None:
        """Leader lock lost: refuse at once and fail everything queued."""
        if self.state is not State.STOPPED:
            self.state = State.STANDBY
        if self._recovering is not None:  # the next take-over rebuilds memory instead
            self._recovering.cancel()
        self._fail_pending(NotLeader("this node lost the leader lock; nothing was written"))

    # -- the port -----------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise StorageError unless a write submitted now could be committed."""
        if not self._lock.leading:
            raise NotLeader("this node is a standby: the leader serves writes")
        if self.state is not State.HEALTHY:
            raise StorageError(f"the database writer is {self.state.value}; retry shortly")

    async def submit(self, records: Sequence[Record]) -> None:
        """Queue records and return once they are committed (raises StorageError if not)."""
        self.check_writable()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((records, future))
        if self._flushing is None:
            self._flushing = loop.create_task(self._flush())
        await future

    async def barrier(self) -> None:
        """Wait until everything queued so far has committed or failed."""
        if self._flushing is None:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(((), future))
        with contextlib.suppress(StorageError):
            await future

    async def drain(self) -> None:
        """Wait until no write is queued or in flight (before a clean shutdown)."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def stop(self) -> None:
        """Commit what is queued, then refuse every further write."""
        await self.drain()
        if self._recovering is not None:
            self._recovering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovering
        self.state = State.STOPPED

    # -- batches ------------------------------------------------------------------------

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let every handler of this loop tick join the batch
            while self._pending and self.state is State.HEALTHY:
                batch, self._pending = self._pending, []
                error = await self._commit(batch)
                if error is None:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
                    continue
                why = describe(error)
                log.warning("a write failed; nothing of its batch was acknowledged: %s", why)
                failure = StorageError(f"the database refused the write: {why}")
                self._fail(batch, failure)
                self._fail_pending(failure)  # queued behind a failure: decided on stale memory
                if self._lock.held:
                    self.state = State.RECOVERING
                    self._recovering = asyncio.get_running_loop().create_task(self._rebuild())
            self._fail_pending(StorageError("the database writer is not accepting writes"))
        finally:
            self._flushing = None

    async def _commit(self, batch: list[_Job]) -> BaseException | None:
        if all(not records for records, _ in batch):
            return None
        runs, head = plan((records for records, _ in batch), self.head)
        try:
            async with self._lock.connection() as conn:
                await conn.execute("BEGIN", timeout=self._timeout)
                try:
                    for run in runs:
                        if len(run.rows) == 1:
                            await conn.execute(run.sql, *run.rows[0], timeout=self._timeout)
                        else:
                            await conn.executemany(run.sql, run.rows, timeout=self._timeout)
                    await conn.execute("COMMIT", timeout=self._timeout)
                except BaseException:
                    if not conn.is_closed() and conn.is_in_transaction():
                        with contextlib.suppress(Exception):
                            await conn.execute("ROLLBACK", timeout=self._timeout)
                    raise
        except Exception as exc:  # every failure must reach the waiting requests
            return exc
        self.head = head
        self.batches += 1
        return None

    async def _rebuild(self) -> None:
        """Rebuild memory from the database once, then accept batches again (still leading)."""
        try:
            if self._recover is not None:
                await self._recover()
        except Exception as exc:  # cannot rebuild: give the lock up so a healthy node leads
            log.warning("could not rebuild state after a failed write: %s", describe(exc))
            self._lock.lose(exc)
            return
        finally:
            self._recovering = None
        if self._lock.held and self.state is State.RECOVERING:
            self.state = State.HEALTHY

    @staticmethod
    def _fail(jobs: list[_Job], error: StorageError) -> None:
        for _, future in jobs:
            if not future.done():
                future.set_exception(error)

    def _fail_pending(self, error: StorageError) -> None:
        jobs, self._pending = self._pending, []
        self._fail(jobs, error)
