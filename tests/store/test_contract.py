"""The store contract: SQLite and PostgreSQL, given the same records, hold the same state.

Each request is committed as its own job; a round of requests is committed concurrently,
so the writers group them into shared transactions (and the PostgreSQL planner merges
and reorders their statements) exactly as under load.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from lls.domain.ports import Snapshot
from lls.domain.records import (
    AppendEvent,
    PruneEvents,
    RecordExport,
    SaveOffline,
    SavePool,
    StartSession,
)
from lls.sealed.chain import GENESIS_HASH, chain_hash
from tests.store.conftest import open_store
from tests.store.records_mix import Mix


def _normal(snap: Snapshot) -> dict[str, Any]:
    """A snapshot with its unordered collections sorted, for comparison."""
    return {
        "pool": snap.pool,
        "sessions": sorted(snap.sessions, key=lambda s: s.id),
        "meta": snap.meta,
        "peaks": snap.peaks,
        "held": sorted(snap.held),
        "consumed": snap.consumed,
        "flags": snap.flags,
        "environments": snap.environments,
        "offline": sorted(snap.offline, key=lambda o: o.id),
    }


async def _apply(store: Any, seed: int, rounds: int) -> None:
    mix = Mix(seed)
    for _ in range(rounds):
        requests = [mix.request() for _ in range(mix.rng.randint(1, 12))]
        await asyncio.gather(*(store.commit(records) for records in requests))


async def _state(store: Any) -> dict[str, Any]:
    return {
        "snapshot": _normal(await store.snapshot()),
        "events": await store.events_after(0),
        "audit": await store.audit(after=3, limit=5),
        "audit filtered": await store.audit(
            after=1, before=60, limit=7, since=1_700_000_008.0, types=["session.*", "noop"]
        ),
        "audit newest": await store.audit(after=0, limit=4, newest_first=True, types=["pool_*"]),
        "head": await store.chain_head(),
        "exports": [await store.export_point(seq) for seq in range(6)],
        "seen": await store.contexts_seen(since=1_700_000_010.0),
    }


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_same_records_give_same_state_on_sqlite_and_postgres(
    seed: int, tmp_path: Path, pg_url: str
) -> None:
    async with (
        open_store("sqlite", tmp_path) as sqlite,
        open_store("postgres", tmp_path, pg_url) as pg,
    ):
        await _apply(sqlite, seed, rounds=25)
        await _apply(pg, seed, rounds=25)
        expected, got = await _state(sqlite), await _state(pg)
    assert got == expected
    assert expected["head"][0] > 40 and len(expected["snapshot"]["sessions"]) > 0


async def test_audit_chain_is_hashed_as_sealed_chain_defines(backend_store: Any) -> None:
    await asyncio.gather(
        *(
            backend_store.commit([AppendEvent(at=1.0e9 + i, type="t", data={"i": i, "s": "é"})])
            for i in range(20)
        )
    )
    events = await backend_store.events_after(0)
    prev = GENESIS_HASH
    for event in events:
        assert event.prev_hash == prev
        assert event.hash == chain_hash(
            prev_hash=prev,
            event_id=event.id,
            at=event.at,
            type=event.type,
            license=event.license,
            auth_context=event.auth_context,
            data=event.data,
        )
        prev = event.hash
    assert [e.id for e in events] == list(range(1, 21))


async def test_pruning_every_event_keeps_the_chain_head(backend_store: Any) -> None:
    await backend_store.commit([AppendEvent(at=1.0, type="a"), AppendEvent(at=1.0, type="b")])
    head = await backend_store.chain_head()
    await backend_store.commit([PruneEvents(2), RecordExport(1, 2, head[1], 3.0)])
    await backend_store.commit([AppendEvent(at=2.0, type="c")])
    [event] = await backend_store.events_after(0)
    assert (event.id, event.prev_hash) == (3, head[1])
    assert await backend_store.export_point(1) == 2


async def test_failed_batch_raises_storage_error_and_keeps_chain_head(backend_store: Any) -> None:
    from lls.errors import StorageError

    await backend_store.commit([StartSession("s1", "L", "h", 1.0, 2.0), AppendEvent(1.0, "ok")])
    with pytest.raises(StorageError):
        await backend_store.commit([AppendEvent(1.0, "lost"), StartSession("s1", "L", "h", 1, 2)])
    await _writable(backend_store)
    await backend_store.commit([AppendEvent(at=2.0, type="next")])
    events = await backend_store.events_after(0)
    assert [e.type for e in events] == ["ok", "next"]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))


async def _writable(store: Any) -> None:
    """After a failed batch the PostgreSQL writer rebuilds first; SQLite accepts at once."""
    wait = getattr(store, "wait_writable", None)
    if wait is not None:
        assert await wait(5.0)


async def test_snapshot_leaves_out_the_raw_pool_the_caller_already_verified(
    backend_store: Any,
) -> None:
    await backend_store.commit([SavePool(7, 1, 2, "org", 0, 3.0, "RAW-POOL-7")])
    full = await backend_store.snapshot()
    known = await backend_store.snapshot(wait=False, known_pools=[7])
    other = await backend_store.snapshot(known_pools=[6])
    assert (full.pool.raw, known.pool.raw, other.pool.raw) == ("RAW-POOL-7", "", "RAW-POOL-7")
    assert known.pool.seq == 7 and backend_store.writable


async def test_a_borrowed_seat_is_kept_with_its_kind(backend_store: Any) -> None:
    """Migration 0011 on both backends: the kind of an offline activation survives."""
    keys: dict[str, Any] = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "k"}]}
    await backend_store.commit(
        [
            SaveOffline("b1", "LIC-A", "laptop", "kid", keys, "n1", 1.0, 9.0, None, "borrow"),
            SaveOffline("o1", "LIC-A", "dev", "kid", keys, "n2", 1.0, 9.0, None),
        ]
    )
    await backend_store.commit(
        [SaveOffline("b1", "LIC-A", "laptop", "kid", keys, "n1", 1.0, 9.0, 5.0, "borrow")]
    )
    snap = await backend_store.snapshot()
    got = {a.id: (a.kind, a.deactivated_at) for a in snap.offline}
    assert got == {"b1": ("borrow", 5.0), "o1": ("offline", None)}
