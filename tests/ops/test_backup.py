"""Online backups: consistent copies of a serving database, retention, the scheduled job."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from lls.app.wiring import build_app
from lls.config.settings import Config
from lls.errors import Refused
from lls.instance import Instance
from lls.store.backup import (
    backup_database,
    inspect_database,
    list_backups,
    newest_backup_time,
    scheduled_backup,
)
from tests.conftest import Server


async def test_backup_of_a_serving_database_holds_its_committed_sessions(
    server: Server, tmp_path: Path
) -> None:
    for i in range(3):
        await server.activate("LIC-THREE", f"host-{i}")
    out = tmp_path / "copy.db"
    info = await asyncio.to_thread(backup_database, server.instance.db_path, out)
    assert (info.integrity, info.pool_seq, info.sessions) == ("ok", 1, 3)
    assert inspect_database(out) == info
    assert not Path(f"{out}-wal").exists()  # one self-contained file
    assert out.stat().st_mode & 0o777 == 0o600  # it holds license tokens
    with sqlite3.connect(out) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_backup_of_a_missing_database_is_refused_without_creating_one(tmp_path: Path) -> None:
    with pytest.raises(Refused, match="no database"):
        backup_database(tmp_path / "absent.db", tmp_path / "out.db")
    assert list(tmp_path.iterdir()) == []


async def test_backup_into_a_missing_folder_is_refused_with_the_reason(
    server: Server, tmp_path: Path
) -> None:
    with pytest.raises(Refused, match=r"cannot write the backup .*No such file or directory"):
        backup_database(server.instance.db_path, tmp_path / "absent" / "out.db")


def test_inspect_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(Refused, match="not a usable SQLite database"):
        inspect_database(junk)


def test_scheduled_backups_keep_only_the_newest(instance: Instance, tmp_path: Path) -> None:
    sqlite3.connect(instance.db_path).execute("CREATE TABLE pools (seq INTEGER)").connection.close()
    folder = tmp_path / "backups"
    start = 1_800_000_000.0
    written = [scheduled_backup(instance.db_path, folder, keep=2, now=start + i) for i in range(4)]
    assert list_backups(folder) == written[2:]
    (folder / "notes.txt").write_text("left alone")
    scheduled_backup(instance.db_path, folder, keep=2, now=start + 9)
    assert len(list_backups(folder)) == 2
    assert (folder / "notes.txt").exists()
    assert newest_backup_time(folder) == pytest.approx(time.time(), abs=60)


async def test_daemon_with_backup_dir_writes_a_backup_at_start_and_on_schedule(
    aiohttp_client: Any, instance: Instance, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    config = Config(
        data_dir=instance.data_dir,
        backup_dir=str(folder),
        backup_interval_s=0.3,
        backup_keep=2,
    )
    await aiohttp_client(build_app(config, instance=instance, run_jobs=True))
    deadline = time.monotonic() + 10
    while len(list_backups(folder)) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    found = list_backups(folder)
    assert len(found) == 2
    assert all(inspect_database(p).ok for p in found)
