"""PostgreSQL schema and connections: numbered migrations, the newer-schema guard, the URL."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from lls.errors import StorageError
from lls.store.postgres import PostgresStore, SchemaTooNew
from lls.store.postgres.connection import connect, dsn_from_url, redact
from lls.store.postgres.migrate import migrate, migration_files
from tests.store.conftest import INSTANCE_ID

pytestmark = pytest.mark.postgres


async def _versions(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
    finally:
        await conn.close()


async def test_open_applies_every_numbered_migration_once(pg_url: str) -> None:
    for _ in range(2):
        store = PostgresStore(pg_url, INSTANCE_ID)
        await store.open()
        await store.close()
    numbers = [n for n, _ in migration_files()]
    assert await _versions(pg_url) == numbers
    assert {1, 2, 3, 4, 7, 8, 11} <= set(numbers)  # 0008: usage history, 0011: borrow kind


async def test_two_nodes_migrating_a_new_database_at_once_both_succeed(pg_url: str) -> None:
    conns = [await connect(pg_url, role="test") for _ in range(2)]
    try:
        versions = await asyncio.gather(*(migrate(c) for c in conns))
    finally:
        for c in conns:
            await c.close()
    numbers = [n for n, _ in migration_files()]
    assert versions == [numbers[-1]] * 2
    assert await _versions(pg_url) == numbers


def test_both_backends_have_the_same_migration_numbers() -> None:
    from lls.store.connection import _migration_files as sqlite_migrations

    assert [n for n, _ in migration_files()] == [n for n, _ in sqlite_migrations()]


async def test_a_database_migrated_before_0006_existed_here_gets_it(pg_url: str) -> None:
    """0006 (misuse_contexts) shipped on PostgreSQL after 0007: a database at [1..4, 7]
    must still get it, though its newest version is above 6."""
    conn = await connect(pg_url, role="test")
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for number, sql in migration_files():
            if number in (1, 2, 3, 4, 7):
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1)", number)
        assert await conn.fetchval("SELECT to_regclass('misuse_contexts')") is None
        assert await migrate(conn) == migration_files()[-1][0]
        assert await conn.fetchval("SELECT to_regclass('misuse_contexts') IS NOT NULL")
    finally:
        await conn.close()
    assert await _versions(pg_url) == [n for n, _ in migration_files()]


async def test_database_from_a_newer_lls_is_refused_and_left_alone(pg_url: str) -> None:
    store = PostgresStore(pg_url, INSTANCE_ID)
    await store.open()
    await store.close()
    conn = await asyncpg.connect(pg_url)
    await conn.execute("INSERT INTO schema_migrations (version) VALUES (99)")
    await conn.close()
    newer = PostgresStore(pg_url, INSTANCE_ID)
    with pytest.raises(SchemaTooNew, match="schema version 99, newer than this LLS knows"):
        await newer.open()
    assert await _versions(pg_url) == [*(n for n, _ in migration_files()), 99]
    assert not newer.lock.held


def test_store_url_must_be_postgresql_with_a_database() -> None:
    assert dsn_from_url("postgres://lls@db.lan/lls") == "postgresql://lls@db.lan/lls"
    with pytest.raises(StorageError, match="must start with postgresql://"):
        dsn_from_url("sqlite:///var/lib/lls/lls.db")
    with pytest.raises(StorageError, match="names no database"):
        dsn_from_url("postgresql://lls:secret@db.lan/")


def test_redact_hides_the_password_only() -> None:
    assert (
        redact("postgresql://lls:s3cret@db.lan:5432/lls") == "postgresql://lls:***@db.lan:5432/lls"
    )
    assert redact("postgresql://lls@db.lan/lls") == "postgresql://lls@db.lan/lls"


async def test_unreachable_database_is_a_storage_error_without_the_password() -> None:
    with pytest.raises(StorageError) as caught:
        await connect("postgresql://lls:s3cret@127.0.0.1:9/lls", role="test")
    assert "s3cret" not in str(caught.value) and "127.0.0.1:9" in str(caught.value)


async def test_reader_connection_lost_fails_one_read_then_reconnects(pg_url: str) -> None:
    store = PostgresStore(pg_url, INSTANCE_ID)
    await store.open()
    admin = await asyncpg.connect(pg_url)
    try:
        await store.export_point(1)  # opens the reader
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'lls reader'"
        )
        await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        await asyncio.sleep(0.1)
        first: object
        try:
            first = await store.export_point(1)
        except StorageError as exc:
            first = exc
        second = await store.export_point(1)
    finally:
        await admin.close()
        await store.close()
    assert first is None or isinstance(first, StorageError)
    assert second is None
