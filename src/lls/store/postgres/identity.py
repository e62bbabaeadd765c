"""The instance in its database: which database it lives in, its keys, its nodes.

PostgreSQL names a database by its cluster's `system_identifier` (chosen by initdb) and
the database's oid: a dump restored into another cluster, or `CREATE DATABASE … TEMPLATE`
in the same one, gets another pair. `lls init --store` binds the database to its instance
(and keeps the instance's keys there for `lls node join`); every start compares. A copy
serves nothing (its seats would be granted a second time beside the original) until the
admin rebinds it through the vendor, as for a moved machine: `lls registration --rebind`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from lls.errors import Refused, StorageError
from lls.store.postgres.connection import Conn, connect, describe
from lls.store.postgres.migrate import migrate


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """The instance as `lls init --store` put it in the database."""

    instance_id: str
    database_identity: str
    instance_key: str | None  # private JWKS text
    vendor_keys: str | None  # vendor.jwks text
    admin_token_sha256: str | None


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One machine joined to the instance."""

    fingerprint: str
    hostname: str
    machine: str  # JSON of lls.machine.MachineRecord
    joined_at: float


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


@asynccontextmanager
async def migrated(url: str, role: str) -> AsyncIterator[Conn]:
    """A connection to the database at `url`, its schema migrated; SQL errors → StorageError."""
    conn = await connect(url, role=role)
    try:
        await migrate(conn)
        yield conn
    except asyncpg.PostgresError as exc:
        raise StorageError(f"the database refused: {describe(exc)}") from exc
    finally:
        await conn.close()


async def read_instance(conn: Conn) -> InstanceRow | None:
    row = await conn.fetchrow(
        "SELECT instance_id, database_identity, instance_key, vendor_keys, admin_token_sha256"
        " FROM ha_instance"
    )
    return InstanceRow(*row) if row is not None else None


async def read_nodes(conn: Conn) -> list[NodeRow]:
    rows = await conn.fetch(
        "SELECT fingerprint, hostname, machine, joined_at FROM ha_nodes ORDER BY joined_at"
    )
    return [NodeRow(r[0], r[1], r[2], float(r[3])) for r in rows]


async def create_instance(conn: Conn, row: InstanceRow, node: NodeRow) -> None:
    """Put a new instance and its first node in an empty database (`lls init --store`)."""
    identity = await database_identity(conn)
    async with conn.transaction():
        existing = await read_instance(conn)
        if existing is not None:
            raise Refused(
                f"this database already holds instance {existing.instance_id}; to add this"
                " machine to it, run `lls node join`",
                code="ALREADY_INITIALISED",
            )
        await conn.execute(
            "INSERT INTO ha_instance (instance_id, database_identity, bound_at, instance_key,"
            " vendor_keys, admin_token_sha256) VALUES ($1, $2, $3, $4, $5, $6)",
            row.instance_id,
            identity,
            time.time(),
            row.instance_key,
            row.vendor_keys,
            row.admin_token_sha256,
        )
        await add_node(conn, node)


async def add_node(conn: Conn, node: NodeRow) -> None:
    """Record a machine as a node of the instance (again: its record is replaced)."""
    await conn.execute(
        "INSERT INTO ha_nodes (fingerprint, hostname, machine, joined_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (fingerprint) DO UPDATE SET hostname = excluded.hostname,"
        " machine = excluded.machine, joined_at = excluded.joined_at",
        node.fingerprint,
        node.hostname,
        node.machine,
        node.joined_at,
    )


async def check_binding(conn: Conn, instance_id: str) -> str:
    """Refuse a database bound to another instance, or a copy of the one bound to this one
    (a database nobody bound yet — the store tests' — is bound now)."""
    identity = await database_identity(conn)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO ha_instance (instance_id, database_identity, bound_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (singleton) DO NOTHING",
            instance_id,
            identity,
            time.time(),
        )
        row = await read_instance(conn)
    assert row is not None
    if row.instance_id != instance_id:
        raise Refused(
            f"this database belongs to instance {row.instance_id}, not to {instance_id}:"
            " check store.url, or the data directory",
            code="WRONG_INSTANCE",
        )
    if row.database_identity != identity:
        raise Refused(
            f"this database is a copy (it was bound as {row.database_identity}, it is"
            f" {identity}): a dump restored elsewhere or a CREATE DATABASE … TEMPLATE serves"
            " nothing, or its seats would be granted twice. To move the instance to it for"
            " real, run `lls registration --rebind --out registration.lls` with this"
            " store.url, give the file to the vendor and import the pool file it issues",
            code="DATABASE_COPIED",
        )
    return identity


async def rebind_database(url: str, instance_id: str) -> str:
    """Make the database at `url` the instance's home (`lls registration --rebind`)."""
    async with migrated(url, "rebind") as conn:
        identity = await database_identity(conn)
        status = await conn.execute(
            "UPDATE ha_instance SET database_identity = $2, bound_at = $3 WHERE instance_id = $1",
            instance_id,
            identity,
            time.time(),
        )
    if status.endswith(" 0"):
        raise Refused(
            f"this database is not bound to instance {instance_id}", code="WRONG_INSTANCE"
        )
    return identity
