"""The PostgreSQL writer on a real server: group commit, durability, settings, failed COMMITs."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import pytest

from lls.domain.records import AppendEvent, StartSession
from lls.errors import StorageError
from lls.store.postgres import PostgresStore
from tests.store.conftest import INSTANCE_ID, LEASE_S, LOCK_INTERVAL_S

pytestmark = pytest.mark.postgres


def _start(i: int, license: str = "LIC") -> StartSession:
    return StartSession(f"s{i}", license, f"h{i}", 1.0, 2.0)


async def _leader(url: str, **kwargs: object) -> PostgresStore:
    store = PostgresStore(url, INSTANCE_ID, lock_interval=LOCK_INTERVAL_S, lease=LEASE_S, **kwargs)  # type: ignore[arg-type]
    await store.open()
    assert await store.wait_writable(5.0)
    return store


async def test_concurrent_commits_share_one_transaction_each_answered_after_commit(
    pg_url: str,
) -> None:
    store = await _leader(pg_url)
    checker = await asyncpg.connect(pg_url)
    seen: list[int] = []
    turn = asyncio.Lock()

    async def one(i: int) -> None:
        await store.commit([_start(i), AppendEvent(1.0, "session.started")])
        async with turn:  # what another connection sees the moment this answer is released
            seen.append(await checker.fetchval("SELECT count(*) FROM sessions"))

    try:
        await asyncio.gather(*(one(i) for i in range(200)))
        transactions = await checker.fetchval("SELECT count(DISTINCT xmin::text) FROM sessions")
    finally:
        await checker.close()
        await store.close()
    assert seen == [200] * 200  # the first answer already came after the shared COMMIT
    assert transactions == 1


async def test_committed_records_are_there_for_a_new_node_on_new_connections(
    pg_url: str,
) -> None:
    first = await _leader(pg_url)
    await first.commit([_start(1), AppendEvent(1.0, "a")])
    await first.close()
    second = await _leader(pg_url)
    try:
        snap = await second.snapshot()
        await second.commit([AppendEvent(2.0, "b")])
        events = await second.events_after(0)
    finally:
        await second.close()
    assert [s.id for s in snap.sessions] == ["s1"]
    assert [(e.id, e.type) for e in events] == [(1, "a"), (2, "b")]
    assert events[1].prev_hash == events[0].hash


async def test_writer_connection_runs_with_lls_session_settings(pg_url: str) -> None:
    store = await _leader(pg_url)
    try:
        async with store.lock.connection() as conn:
            sock = conn._transport.get_extra_info("socket")  # type: ignore[attr-defined]
            keepalive = (
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
            )
            settings = {
                name: await conn.fetchval(f"SHOW {name}")
                for name in (
                    "synchronous_commit",
                    "idle_in_transaction_session_timeout",
                    "tcp_keepalives_idle",
                    "application_name",
                )
            }
    finally:
        await store.close()
    assert keepalive == (1, 2, 5000)  # client side: a dead server is noticed in seconds too
    assert settings == {
        "synchronous_commit": "on",
        "idle_in_transaction_session_timeout": "10s",
        "tcp_keepalives_idle": "2",
        "application_name": "lls leader lock",
    }


FAIL_AT_COMMIT = """
CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(0.3);
    RAISE EXCEPTION 'refused at COMMIT';
END $$;
CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON sessions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.license = 'FAIL') EXECUTE FUNCTION fail_at_commit();
"""


async def test_failed_commit_fails_its_batch_and_every_job_queued_behind_it(
    pg_url: str,
) -> None:
    rebuilds: list[float] = []

    async def rebuild() -> None:
        rebuilds.append(asyncio.get_running_loop().time())
        await asyncio.sleep(0.2)

    store = await _leader(pg_url, reload=rebuild)
    checker = await asyncpg.connect(pg_url)
    await checker.execute(FAIL_AT_COMMIT)
    try:
        doomed = asyncio.ensure_future(store.commit([_start(0, "FAIL")]))
        await asyncio.sleep(0.1)  # its batch is in flight: COMMIT waits in the trigger
        behind = [asyncio.ensure_future(store.commit([_start(i)])) for i in range(1, 6)]
        outcomes = await asyncio.gather(doomed, *behind, return_exceptions=True)
        refused_while_rebuilding = _refuses(store)
        assert await store.wait_writable(5.0)
        await store.commit([_start(9)])
        rows = await checker.fetch("SELECT id FROM sessions ORDER BY id")
    finally:
        await checker.close()
        await store.close()
    assert all(isinstance(o, StorageError) for o in outcomes), outcomes
    assert refused_while_rebuilding
    assert len(rebuilds) == 2  # once when it took over, once for the failure
    assert [r["id"] for r in rows] == ["s9"]


def _refuses(store: PostgresStore) -> bool:
    try:
        store.check_writable()
    except StorageError:
        return True
    return False


async def test_refused_write_names_no_row_values_in_its_error_or_log(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = await _leader(pg_url)
    secret = StartSession("s1", "TOKEN-SECRET-123", "host-secret", 1.0, 2.0)
    try:
        await store.commit([secret])
        with pytest.raises(StorageError) as caught:
            await store.commit([StartSession("s2", secret.license, secret.auth_context, 1, 2)])
    finally:
        await store.close()
    assert "unique constraint" in str(caught.value) and "23505" in str(caught.value)
    assert "SECRET" not in str(caught.value) and "SECRET" not in caplog.text
