"""A database written by a newer LLS is refused untouched, wherever it is opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lls.instance import Instance
from lls.store import SqliteStore
from lls.store.backup import inspect_database
from lls.store.connection import SchemaTooNew, highest_migration
from tests.cli.conftest import run_sync


def from_a_newer_lls(path: Path) -> int:
    """Create the database as this LLS would, then mark it one schema ahead."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS future (x)")
    newer = highest_migration() + 1
    conn.execute(f"PRAGMA user_version={newer}")
    conn.commit()
    conn.close()
    return newer


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


async def test_open_refuses_a_newer_schema_naming_both_versions(tmp_path: Path) -> None:
    db = tmp_path / "lls.db"
    newer = from_a_newer_lls(db)
    with pytest.raises(SchemaTooNew) as refused:
        await SqliteStore(db).open()
    assert f"schema version {newer}" in refused.value.message
    assert f"up to {highest_migration()}" in refused.value.message
    assert "docs/upgrade.md" in refused.value.message
    assert user_version(db) == newer  # untouched


def test_inspect_refuses_a_newer_backup_unless_told_it_is_the_one_replaced(
    tmp_path: Path,
) -> None:
    db = tmp_path / "b.db"
    from_a_newer_lls(db)
    with pytest.raises(SchemaTooNew):
        inspect_database(db)
    assert inspect_database(db, newer_schema_ok=True).schema_version == highest_migration() + 1


def test_restore_of_a_backup_from_a_newer_lls_is_refused(
    capsys: pytest.CaptureFixture[str], instance: Instance, tmp_path: Path
) -> None:
    backup = tmp_path / "newer.db"
    from_a_newer_lls(backup)
    ran = run_sync(capsys, "restore", str(backup), "--data-dir", str(instance.data_dir))
    assert ran.code == 1
    assert f"has schema version {highest_migration() + 1}, newer than this LLS" in ran.err


def test_data_dir_commands_refuse_a_database_from_a_newer_lls(
    capsys: pytest.CaptureFixture[str], instance: Instance, tmp_path: Path
) -> None:
    newer = from_a_newer_lls(instance.db_path)
    out = str(tmp_path / "u.lls")
    ran = run_sync(capsys, "usage", "export", "--out", out, "--data-dir", str(instance.data_dir))
    assert ran.code == 1 and "newer than this LLS" in ran.err
    assert user_version(instance.db_path) == newer


def test_going_back_restores_an_older_backup_over_a_newer_database(
    capsys: pytest.CaptureFixture[str], instance: Instance, tmp_path: Path
) -> None:
    data = str(instance.data_dir)
    backup = str(tmp_path / "before-upgrade.db")
    run_sync(capsys, "usage", "export", "--out", str(tmp_path / "u.lls"), "--data-dir", data)
    assert run_sync(capsys, "backup", "--out", backup, "--data-dir", data).code == 0
    from_a_newer_lls(instance.db_path)  # the upgrade ran, then is rolled back
    ran = run_sync(capsys, "restore", backup, "--data-dir", data)
    assert ran.code == 0, ran.err
    assert user_version(instance.db_path) == highest_migration()
