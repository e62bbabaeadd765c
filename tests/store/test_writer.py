"""The group-commit writer on a real SQLite file: batching, ordering, durability, failure."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lls.domain.records import AppendEvent, PruneEvents, StartSession
from lls.errors import StorageError
from lls.store import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "lls.db")
    await s.open()
    yield s
    await s.close()


def _start(i: int) -> StartSession:
    return StartSession(f"s{i}", "LIC", f"h{i}", 1.0, 2.0)


async def test_concurrent_commits_all_land_and_share_transactions(store: SqliteStore) -> None:
    await asyncio.gather(*(store.commit([_start(i)]) for i in range(500)))
    db = sqlite3.connect(store.path)
    assert db.execute("SELECT count(*) FROM sessions").fetchone() == (500,)


async def test_events_get_consecutive_ids_and_a_hash_chain(store: SqliteStore) -> None:
    await asyncio.gather(*(store.commit([AppendEvent(at=1.0, type=f"t{i}")]) for i in range(50)))
    events = await store.audit(after=0, limit=100)
    assert [e.id for e in events] == list(range(1, 51))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))


async def test_failed_batch_raises_storage_error_and_keeps_chain_head(store: SqliteStore) -> None:
    await store.commit([_start(1), AppendEvent(at=1.0, type="ok")])
    with pytest.raises(StorageError):
        await store.commit([AppendEvent(at=1.0, type="lost"), _start(1)])  # duplicate id
    await store.commit([AppendEvent(at=2.0, type="next")])
    events = await store.audit(after=0, limit=10)
    assert [e.type for e in events] == ["ok", "next"]
    assert events[1].prev_hash == events[0].hash


async def test_database_runs_wal_with_full_sync(store: SqliteStore) -> None:
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA user_version").fetchone()[0] >= 1


async def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "lls.db")
    await first.open()
    await first.commit([AppendEvent(at=1.0, type="a")])
    await first.close()
    second = SqliteStore(tmp_path / "lls.db")
    await second.open()
    await second.commit([AppendEvent(at=1.0, type="b")])
    events = await second.audit(after=0, limit=10)
    await second.close()
    assert [e.id for e in events] == [1, 2]
    assert events[1].prev_hash == events[0].hash


async def test_pruning_every_event_keeps_the_chain_head_across_reopen(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "lls.db")
    await first.open()
    await first.commit([AppendEvent(at=1.0, type="a"), AppendEvent(at=1.0, type="b")])
    head = await first.chain_head()
    await first.commit([PruneEvents(2)])
    await first.close()
    second = SqliteStore(tmp_path / "lls.db")
    await second.open()
    assert await second.chain_head() == head
    await second.commit([AppendEvent(at=2.0, type="c")])
    [event] = await second.events_after(0)
    await second.close()
    assert (event.id, event.prev_hash) == (3, head[1])


class FlakyConnection(sqlite3.Connection):
    """A real connection whose COMMIT can be made slow and failing, as a full disk fails it:
    SQLite reports the error and leaves the transaction open."""

    commit_delay_s = 0.0
    fail_commits = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            time.sleep(FlakyConnection.commit_delay_s)  # on the commit thread
            if FlakyConnection.fail_commits:
                raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


@pytest.fixture
async def flaky(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    FlakyConnection.commit_delay_s, FlakyConnection.fail_commits = 0.0, False
    s = SqliteStore(tmp_path / "lls.db", probe_interval_s=0.05, connection_factory=FlakyConnection)
    await s.open()
    yield s
    FlakyConnection.fail_commits = False
    await s.close()


def _session_ids(store: SqliteStore) -> list[str]:
    db = sqlite3.connect(store.path)
    try:
        return [str(r[0]) for r in db.execute("SELECT id FROM sessions ORDER BY id")]
    finally:
        db.close()


async def test_failed_commit_fails_every_job_queued_behind_it(flaky: SqliteStore) -> None:
    FlakyConnection.commit_delay_s, FlakyConnection.fail_commits = 0.1, True
    first = asyncio.ensure_future(flaky.commit([_start(1)]))
    await asyncio.sleep(0.03)  # the first batch's COMMIT is in flight now
    behind = [asyncio.ensure_future(flaky.commit([_start(i)])) for i in (2, 3)]
    results = await asyncio.gather(first, *behind, return_exceptions=True)
    assert [type(r) for r in results] == [StorageError] * 3
    assert _session_ids(flaky) == []


async def test_failed_commit_rebuilds_memory_once_before_anything_is_answered(
    flaky: SqliteStore,
) -> None:
    seen: list[tuple[bool, bool]] = []  # (writable, any caller answered yet) during rebuilds
    answered: list[object] = []

    async def rebuild() -> None:
        seen.append((flaky.writable, bool(answered)))

    flaky.set_rebuild(rebuild)
    FlakyConnection.commit_delay_s, FlakyConnection.fail_commits = 0.05, True

    async def job(i: int) -> None:
        try:
            await flaky.commit([_start(i)])
        except StorageError as exc:
            answered.append(exc)

    first = asyncio.ensure_future(job(1))
    await asyncio.sleep(0.02)
    await asyncio.gather(first, *(job(i) for i in range(2, 6)))
    assert seen == [(False, False)]
    assert len(answered) == 5


async def test_writes_are_refused_until_a_probe_commits_then_taken_again(
    flaky: SqliteStore,
) -> None:
    FlakyConnection.fail_commits = True
    with pytest.raises(StorageError):
        await flaky.commit([_start(1)])
    refused_at_once = not flaky.writable
    with pytest.raises(StorageError):
        flaky.check_writable()
    FlakyConnection.fail_commits = False
    for _ in range(100):  # bounded: the probe interval is 0.05 s here
        if flaky.writable:
            break
        await asyncio.sleep(0.02)
    await flaky.commit([_start(2)])
    assert refused_at_once
    assert _session_ids(flaky) == ["s2"]


async def test_barrier_during_a_failure_returns_without_raising(flaky: SqliteStore) -> None:
    FlakyConnection.commit_delay_s, FlakyConnection.fail_commits = 0.05, True
    write = asyncio.ensure_future(flaky.commit([_start(1)]))
    await asyncio.sleep(0.01)
    await flaky.barrier()  # waits for the failed batch and the rebuild, then returns
    await flaky.barrier()  # while writes are still refused: returns at once
    with pytest.raises(StorageError):
        await write


async def test_chain_continues_from_the_database_after_a_failed_commit(flaky: SqliteStore) -> None:
    await flaky.commit([AppendEvent(at=1.0, type="ok")])
    FlakyConnection.fail_commits = True
    with pytest.raises(StorageError):
        await flaky.commit([AppendEvent(at=1.0, type="lost"), AppendEvent(at=1.0, type="lost")])
    FlakyConnection.fail_commits = False
    for _ in range(100):
        if flaky.writable:
            break
        await asyncio.sleep(0.02)
    await flaky.commit([AppendEvent(at=2.0, type="next")])
    events = await flaky.audit(after=0, limit=10)
    assert [(e.id, e.type) for e in events] == [(1, "ok"), (2, "next")]
    assert events[1].prev_hash == events[0].hash
