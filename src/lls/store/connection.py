"""Opening the database: each pragma once, with its reason, and migrations on every start."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from lls import __version__
from lls.errors import Refused

PRAGMAS: tuple[tuple[str, str], ...] = (
    # WAL: readers (admin views, backups) never block the one writer, and a
    # commit is one append to the log instead of a rewrite of pages.
    ("journal_mode", "WAL"),
    # FULL: in WAL mode NORMAL may lose the last commits on power loss; an
    # acknowledged activate must survive it (design.md "Data that must not be lost").
    ("synchronous", "FULL"),
    ("foreign_keys", "ON"),
    # The CLI may open the file while the daemon writes: wait rather than fail.
    ("busy_timeout", "5000"),
)


class SchemaTooNew(Refused):
    """The database's schema is newer than the highest migration this LLS has."""

    default_code = "SCHEMA_TOO_NEW"


def connect(
    path: Path, *, factory: type[sqlite3.Connection] = sqlite3.Connection
) -> sqlite3.Connection:
    """A connection with our pragmas, in autocommit mode (we issue BEGIN ourselves)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=factory)
    for name, value in PRAGMAS:
        conn.execute(f"PRAGMA {name}={value}")
    return conn


def _migration_files() -> list[tuple[int, str]]:
    folder = resources.files("lls.store") / "migrations"
    found: list[tuple[int, str]] = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def highest_migration() -> int:
    """The newest schema version this LLS knows (its highest migration file)."""
    return max((number for number, _ in _migration_files()), default=0)


def check_schema(version: int, where: Path | str) -> None:
    """Refuse a database written by a newer LLS: opening it here could corrupt it."""
    known = highest_migration()
    if version > known:
        raise SchemaTooNew(
            f"the database {where} has schema version {version}, newer than this LLS"
            f" {__version__} knows (up to {known}): a newer LLS wrote it. Run that newer"
            " version again, or go back by restoring a backup taken before the upgrade"
            " (`lls restore FILE`; see docs/upgrade.md)",
            code="SCHEMA_TOO_NEW",
        )


def migrate(conn: sqlite3.Connection, where: Path | str = "in use") -> int:
    """Apply every numbered migration above `PRAGMA user_version`, each in its own transaction;
    a database from a newer LLS is refused untouched."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    check_schema(current, where)
    for number, sql in _migration_files():
        if number <= current:
            continue
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version={number};\nCOMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        current = number
    return current
