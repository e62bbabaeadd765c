"""The group-commit writer on a real SQLite file: batching, ordering, durability, failure."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import pytest

from lls.domain.records import AppendEvent, PruneEvents, StartSession
from lls.errors import StorageError
from lls.store import SqliteStore


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
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
