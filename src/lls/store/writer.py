"""The one database writer: a thread that commits queued work in batches (group commit).

Every durable change goes through here. The event loop queues a batch of
records and awaits a future; the thread takes everything queued so far, applies
it in one `BEGIN IMMEDIATE … COMMIT` (one fsync with `synchronous=FULL`), and
then resolves all those futures with one hop back to the loop. Under load many
requests share one fsync; idle, a request commits alone at once. A prototype on
the target machine measured 4.5k req/s for one commit per request and 18.6k
req/s for this design, both fully durable.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

from lls.errors import StorageError

MAX_BATCH = 2048  # bounds one transaction's size (and its latency) under a burst

Apply = Callable[[sqlite3.Connection, Sequence[Any]], None]
_Job = tuple[Sequence[Any], "asyncio.Future[None]"]
_STOP: Any = object()


class GroupCommitWriter:
    """Serialises all writes through one connection on one thread."""

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
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self._idle: asyncio.Event | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle = asyncio.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="lls-writer", daemon=True)
        self._thread.start()

    async def submit(self, records: Sequence[Any]) -> None:
        """Queue records and return once they are committed (raises StorageError if not)."""
        if self._loop is None:
            raise StorageError("the database writer is not running")
        future: asyncio.Future[None] = self._loop.create_future()
        self._in_flight += 1
        assert self._idle is not None
        self._idle.clear()
        self._queue.put((records, future))
        await future

    async def barrier(self) -> None:
        """Wait until everything queued so far is committed; free when nothing is in flight."""
        if self._in_flight:
            await self.submit(())

    async def drain(self) -> None:
        """Wait until no write is in flight (used before a clean shutdown)."""
        if self._idle is not None:
            await self._idle.wait()

    async def stop(self) -> None:
        """Commit what is queued, then end the thread and close the connection."""
        await self.drain()
        if self._thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._conn.close()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Job] = [first]
            stop_after = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop_after = True
                    break
                batch.append(item)
            error = self._commit(batch)
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._resolve, batch, error)
            if stop_after:
                return

    def _commit(self, batch: list[_Job]) -> BaseException | None:
        if all(not records for records, _ in batch):
            return None
        conn = self._conn
        try:
            if self._on_begin is not None:
                self._on_begin()
            conn.execute("BEGIN IMMEDIATE")
            for records, _ in batch:
                if records:
                    self._apply(conn, records)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self._on_rollback is not None:
                self._on_rollback()
            return exc
        return None

    def _resolve(self, batch: list[_Job], error: BaseException | None) -> None:
        for _, future in batch:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(StorageError(f"the database refused the write: {error}"))
        self._in_flight -= len(batch)
        if self._in_flight == 0 and self._idle is not None:
            self._idle.set()
