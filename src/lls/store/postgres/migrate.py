"""PostgreSQL migrations: numbered SQL files, a version table, and a refusal of newer schemas."""

from __future__ import annotations

import hashlib
from importlib import resources

from lls.errors import StorageError
from lls.store.postgres.connection import Conn

# One node migrates at a time: a transaction-scoped advisory lock on this key (its own key,
# never an instance's leader key: see leader.advisory_key) serialises nodes that start together.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"lls schema migrations").digest()[:8], "big", signed=True
)

VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class SchemaTooNew(StorageError):
    """The database was migrated by a newer LLS; this one would misread it, so it refuses."""

    default_code = "SCHEMA_TOO_NEW"


def migration_files() -> list[tuple[int, str]]:
    """(number, SQL) of every PostgreSQL migration shipped with this LLS, in order."""
    folder = resources.files("lls.store.postgres") / "migrations"
    found = [
        (int(entry.name[:4]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql") and entry.name[:4].isdigit()
    ]
    return sorted(found)


def newest_known() -> int:
    """The highest schema version this LLS knows."""
    files = migration_files()
    return files[-1][0] if files else 0


async def schema_version(conn: Conn) -> int:
    """The database's schema version (0 when LLS never ran on it)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def migrate(conn: Conn) -> int:
    """Apply each missing migration in its own transaction; refuse a newer schema. → version."""
    for number, sql in [(0, VERSION_TABLE), *migration_files()]:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
            if number == 0:
                await conn.execute(sql)
                _refuse_newer(await schema_version(conn))
                continue
            # Another node may have applied it meanwhile; a number below the newest may still
            # be missing (0006 shipped after 0007), so the test is "applied", not "<= newest".
            if await applied(conn, number):
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", number)
    return await schema_version(conn)


async def applied(conn: Conn, number: int) -> bool:
    """Whether migration `number` was applied to this database."""
    found = await conn.fetchval("SELECT 1 FROM schema_migrations WHERE version = $1", number)
    return found is not None


def _refuse_newer(version: int) -> None:
    known = newest_known()
    if version > known:
        raise SchemaTooNew(
            f"the database has schema version {version}, newer than this LLS knows ({known}):"
            " it was upgraded by a newer LLS. Run that version, or restore a backup taken"
            " before the upgrade."
        )
