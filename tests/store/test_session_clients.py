"""Migration 0007: sessions keep who holds them; a database from before it keeps its sessions."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from lls.domain.models import ClientInfo
from lls.domain.records import SetSessionClient, StartSession
from lls.store import SqliteStore


def _database_of_version_4(path: Path) -> None:
    """A database as LLS wrote it before 0007, with one live session in it."""
    conn = sqlite3.connect(path)
    folder = resources.files("lls.store") / "migrations"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql") and int(entry.name[:4]) <= 4:
            conn.executescript(entry.read_text(encoding="utf-8"))
    conn.execute("PRAGMA user_version=4")
    conn.execute(
        "INSERT INTO sessions (id, license, auth_context, started_at, expires_at)"
        " VALUES ('s-old', 'LIC', 'pc-1', 1.0, 2.0)"
    )
    conn.commit()
    conn.close()


async def test_sessions_of_an_older_database_load_without_a_holder(tmp_path: Path) -> None:
    _database_of_version_4(tmp_path / "lls.db")
    store = SqliteStore(tmp_path / "lls.db")
    await store.open()
    try:
        [session] = (await store.snapshot()).sessions
    finally:
        await store.close()
    assert (session.id, session.client_address, session.client_info) == ("s-old", None, None)


async def test_holder_is_written_at_start_and_when_it_changes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "lls.db")
    await store.open()
    info = ClientInfo(hostname="ws-1", user="jdoe")
    await store.commit([StartSession("s1", "LIC", "pc-1", 1.0, 2.0, "10.0.0.7", info)])
    await store.commit([SetSessionClient("s1", "10.0.0.8", ClientInfo(application="CAD"))])
    [session] = (await store.snapshot()).sessions
    await store.close()
    assert (session.client_address, session.client_info) == (
        "10.0.0.8",
        ClientInfo(application="CAD"),
    )
