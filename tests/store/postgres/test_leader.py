"""Leadership and fencing on a real server: one leader, and a lost lock can never commit."""

from __future__ import annotations

import asyncio
import itertools
import time

import asyncpg
import pytest

from lls.domain.records import AppendEvent, StartSession
from lls.errors import StorageError
from lls.store.postgres import LeaderLock, NotLeader, PostgresStore, advisory_key
from tests.store.conftest import INSTANCE_ID, LEASE_S, LOCK_INTERVAL_S
from tests.store.postgres.blackhole import Blackhole

pytestmark = pytest.mark.postgres

SLOW_INSERTS = """
CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.005); RETURN NEW; END $$;
CREATE TRIGGER slow_insert BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION slow_insert();
"""


def test_advisory_key_is_the_first_8_bytes_of_sha256_as_signed_bigint() -> None:
    # sha256("inst-test") = 4f1e…: a positive key; the value is pinned so it never drifts.
    key = advisory_key(INSTANCE_ID)
    assert -(2**63) <= key < 2**63
    assert key == int.from_bytes(
        bytes.fromhex(__import__("hashlib").sha256(b"inst-test").hexdigest()[:16]),
        "big",
        signed=True,
    )


async def test_advisory_key_matches_the_documented_sql_expression(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        in_sql = await conn.fetchval(
            "SELECT ('x' || left(encode(sha256(convert_to($1, 'UTF8')), 'hex'), 16))"
            "::bit(64)::bigint",
            "Ä-instance-✓",
        )
    finally:
        await conn.close()
    assert in_sql == advisory_key("Ä-instance-✓")


async def _store(url: str) -> PostgresStore:
    store = PostgresStore(url, INSTANCE_ID, lock_interval=LOCK_INTERVAL_S, lease=LEASE_S)
    await store.open()
    return store


async def test_terminated_lock_connection_fails_in_flight_batches_and_standby_takes_over(
    pg_url: str,
) -> None:
    admin = await asyncpg.connect(pg_url)
    a = await _store(pg_url)
    assert await a.wait_writable(5.0)
    b = await _store(pg_url)
    await admin.execute(SLOW_INSERTS)  # each batch spends milliseconds in flight
    acked: list[str] = []
    failed: list[tuple[str, str]] = []
    ids = (f"s{i}" for i in itertools.count())

    async def client() -> None:
        sid = next(ids)
        try:
            await a.commit([StartSession(sid, "LIC", sid, 1.0, 2.0), AppendEvent(1.0, "t")])
            acked.append(sid)
        except StorageError as exc:
            failed.append((sid, str(exc)))

    tasks: list[asyncio.Task[None]] = []

    async def load(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            tasks.extend(asyncio.ensure_future(client()) for _ in range(4))
            await asyncio.sleep(0.002)

    try:
        await load(0.3)
        b_was_standby = b.role == "standby"
        with pytest.raises(NotLeader):
            await b.commit([AppendEvent(1.0, "from the standby")])
        await admin.fetchval("SELECT pg_terminate_backend($1)", a.lock.backend_pid)
        killed = time.monotonic()
        loading = asyncio.ensure_future(load(0.3))
        refused_after = await _until_refused(a, 1.0)
        took_over = await b.wait_writable(2.0)
        takeover_s = time.monotonic() - killed
        await loading
        await asyncio.gather(*tasks)
        before = len(acked)
        await b.commit([AppendEvent(2.0, "after takeover")])
        stored = {r["id"] for r in await admin.fetch("SELECT id FROM sessions")}
        events = await b.events_after(0)
    finally:
        await a.close()
        await b.close()
        await admin.close()
    assert b_was_standby
    assert refused_after is not None and refused_after < 1.0
    assert took_over, f"the standby did not lead within 2 s ({takeover_s:.2f} s)"
    assert any("refused the write" in why for _, why in failed), "no batch was in flight"
    assert set(acked) == stored and len(acked) == before  # every answer held, no phantom
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert all(y.prev_hash == x.hash for x, y in itertools.pairwise(events))


async def _until_refused(store: PostgresStore, seconds: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            store.check_writable()
        except StorageError:
            return time.monotonic() - start
        await asyncio.sleep(0)
    return None


async def test_two_lock_holders_never_both_believe_they_lead(pg_url: str) -> None:
    admin = await asyncpg.connect(pg_url)
    key = advisory_key(INSTANCE_ID)
    locks = [LeaderLock(pg_url, key, interval=0.01, lease=0.05) for _ in range(2)]
    both = 0
    leaders: list[int] = []
    stop = False

    async def watch() -> None:
        nonlocal both
        while not stop:
            both += locks[0].leading and locks[1].leading
            await asyncio.sleep(0)

    watcher = asyncio.ensure_future(watch())
    for lock in locks:
        await lock.start()
    try:
        for _ in range(12):  # bounded: 12 hand-overs, each within 2 s
            deadline = time.monotonic() + 2.0
            while not any(lock.leading for lock in locks) and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            [leader] = [i for i, lock in enumerate(locks) if lock.leading]
            leaders.append(leader)
            await admin.fetchval("SELECT pg_terminate_backend($1)", locks[leader].backend_pid)
            while locks[leader].leading and time.monotonic() < deadline:
                await asyncio.sleep(0)
    finally:
        stop = True
        await watcher
        for lock in locks:
            await lock.stop()
        await admin.close()
    assert both == 0
    assert len(leaders) == 12


async def test_partitioned_leader_stops_believing_within_its_lease_and_never_commits(
    pg_url: str,
) -> None:
    relay = Blackhole(pg_url)
    via_relay = await relay.start()
    a = PostgresStore(via_relay, INSTANCE_ID, lock_interval=0.05, lease=LEASE_S, timeout=1.5)
    b = PostgresStore(pg_url, INSTANCE_ID, lock_interval=0.05, lease=LEASE_S)
    admin = await asyncpg.connect(pg_url)
    both = 0
    watching = True

    async def watch() -> None:
        nonlocal both
        while watching:
            both += a.role == "leader" and b.role == "leader"
            await asyncio.sleep(0)

    try:
        await a.open()
        assert await a.wait_writable(5.0)
        await b.open()
        watcher = asyncio.ensure_future(watch())
        relay.cut()
        hung = asyncio.ensure_future(a.commit([StartSession("lost", "L", "h", 1.0, 2.0)]))
        refused_after = await _until_refused(a, LEASE_S + 1.0)
        b_during_cut = b.role
        hung_outcome = (await asyncio.gather(hung, return_exceptions=True))[0]  # its timeout
        relay.heal_server_side()  # the server's keepalives give up on the silent peer
        assert await b.wait_writable(5.0)
        stored = await admin.fetchval("SELECT count(*) FROM sessions")
        watching = False
        await watcher
    finally:
        watching = False
        await a.close()
        await b.close()
        await relay.stop()
        await admin.close()
    assert refused_after is not None
    assert refused_after <= LEASE_S + 0.2  # belief ran out with the lease, before any error
    assert b_during_cut == "standby"  # the server still saw the lock held
    assert isinstance(hung_outcome, StorageError)
    assert stored == 0
    assert both == 0
