"""Which database an instance lives in: refuse a copy, as a copied data directory is refused.

PostgreSQL names a database by its cluster's `system_identifier` (chosen by initdb) and
the database's oid: a dump restored into another cluster, or `CREATE DATABASE … TEMPLATE`
in the same one, gets another pair. The first node to open an empty database binds it to
its instance; every start compares. A copy serves nothing (its seats would be granted a
second time beside the original) until the admin rebinds it through the vendor, as for a
moved machine: `lls registration --rebind` (the vendor then issues a pool for it).
"""

from __future__ import annotations

import time

import asyncpg

from lls.errors import Refused, StorageError
from lls.store.postgres.connection import Conn, connect, describe


async def database_identity(conn: Conn) -> str:
    """`system_identifier/oid` of the database `conn` is connected to."""
    try:
        system = await conn.fetchval("SELECT system_identifier FROM pg_control_system()")
    except asyncpg.InsufficientPrivilegeError:
        raise StorageError(
            "the database role may not read pg_control_system(); grant it pg_monitor"
            " (GRANT pg_monitor TO <role>) so LLS can tell this database from a copy"
        ) from None
    oid = await conn.fetchval("SELECT oid FROM pg_database WHERE datname = current_database()")
    return f"{system}/{oid}"


async def check_binding(conn: Conn, instance_id: str) -> str:
    """Bind an unbound database to `instance_id`; refuse one bound elsewhere or copied."""
    identity = await database_identity(conn)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO instance_binding (instance_id, database_identity, bound_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (singleton) DO NOTHING",
            instance_id,
            identity,
            time.time(),
        )
        row = await conn.fetchrow("SELECT instance_id, database_identity FROM instance_binding")
    assert row is not None
    if row[0] != instance_id:
        raise Refused(
            f"this database belongs to instance {row[0]}, not to {instance_id}:"
            " check store.url, or the data directory",
            code="WRONG_INSTANCE",
        )
    if row[1] != identity:
        raise Refused(
            f"this database is a copy (it was bound as {row[1]}, it is {identity}): a dump"
            " restored elsewhere or a CREATE DATABASE … TEMPLATE serves nothing, or its seats"
            " would be granted twice. To move the instance to it for real, run `lls"
            " registration --rebind --out registration.lls` with this store.url, give the"
            " file to the vendor and import the pool file it issues",
            code="DATABASE_COPIED",
        )
    return identity


async def rebind_database(url: str, instance_id: str) -> str:
    """Make the database at `url` the instance's home (`lls registration --rebind`)."""
    conn = await connect(url, role="rebind")
    try:
        identity = await database_identity(conn)
        status = await conn.execute(
            "UPDATE instance_binding SET database_identity = $2, bound_at = $3"
            " WHERE instance_id = $1",
            instance_id,
            identity,
            time.time(),
        )
    except asyncpg.PostgresError as exc:
        raise StorageError(f"cannot rebind the database: {describe(exc)}") from exc
    finally:
        await conn.close()
    if status.endswith(" 0"):
        raise Refused(
            f"this database is not bound to instance {instance_id}", code="WRONG_INSTANCE"
        )
    return identity
