"""Online backups of the database (SQLite's backup API), their retention, and restore.

The backup API copies a consistent snapshot: in WAL mode it reads as one
transaction while the daemon's writer goes on committing, so a backup can be
taken at any time, by the daemon's scheduler or by `lls backup` from another
process. A backup is one self-contained file (rollback journal, not WAL),
written beside its final name and renamed into place, mode 0600: it holds
license tokens.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import stat
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lls.errors import PermissionDenied, Refused
from lls.progress import ProgressHook, quiet
from lls.store.connection import check_schema

BUSY_TIMEOUT_MS = 5000
BACKUP_NAME = re.compile(r"^lls-\d{8}-\d{6}\.\d{3}Z\.db$")


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """What a database file holds, enough to judge a backup before restoring it."""

    path: Path
    integrity: str
    schema_version: int
    pool_seq: int
    sessions: int
    events: int

    @property
    def ok(self) -> bool:
        return self.integrity == "ok"


def _open_existing(path: Path) -> sqlite3.Connection:
    """Open a database file that must already exist (never create an empty one)."""
    # Never open the file other than through SQLite: in the daemon (scheduled backups),
    # closing a second descriptor of lls.db drops the process's POSIX locks on it, and
    # another process's SQLite then takes itself for the last user and deletes the live
    # -wal and -shm (tests/e2e/test_file_modes.py caught this). stat and access do not.
    try:
        info = path.stat()
    except FileNotFoundError:
        raise Refused(f"no database file at {path}", code="NO_DATABASE") from None
    except PermissionError:
        raise PermissionDenied.on(path) from None
    if stat.S_ISDIR(info.st_mode):
        raise Refused(f"{path} is a directory, not a database file", code="NO_DATABASE")
    if not os.access(path, os.R_OK):  # names a permission problem as such, before SQLite
        raise PermissionDenied.on(path)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise Refused(
            f"{path} is not a usable SQLite database: {exc}", code="BAD_DATABASE"
        ) from None
    return conn


def _count(conn: sqlite3.Connection, sql: str) -> int:
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.DatabaseError:
        return 0
    return int(row[0] or 0) if row is not None else 0


def _info(conn: sqlite3.Connection, path: Path) -> DatabaseInfo:
    try:
        integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        integrity = str(exc)
    return DatabaseInfo(
        path=path,
        integrity=integrity,
        schema_version=_count(conn, "PRAGMA user_version"),
        pool_seq=_count(conn, "SELECT max(seq) FROM pools"),
        sessions=_count(conn, "SELECT count(*) FROM sessions"),
        events=_count(conn, "SELECT count(*) FROM events"),
    )


def inspect_database(path: Path, *, newer_schema_ok: bool = False) -> DatabaseInfo:
    """Integrity, schema version, newest pool seq and row counts of a database file;
    a database from a newer LLS is refused (this one could not serve it) unless
    `newer_schema_ok` (the one being replaced when going back to an older LLS)."""
    conn = _open_existing(path)
    try:
        info = _info(conn, path)
    finally:
        conn.close()
    if not newer_schema_ok:
        check_schema(info.schema_version, path)
    return info


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_database(source: Path, dest: Path, *, progress: ProgressHook = quiet) -> DatabaseInfo:
    """Copy `source` to `dest` as one consistent snapshot, safe while a daemon writes."""
    src = _open_existing(source)
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)
        # Created 0600 before SQLite writes a byte: a backup holds license tokens.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            size_mib = source.stat().st_size / 2**20
            progress(f"copying {source.name} ({size_mib:.1f} MiB)", 0, None)
            # pages=-1: the whole file in one step, one read transaction: a stepped copy
            # would start over each time the daemon commits in between.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            progress("checking the copy's integrity", 0, None)
            info = _info(dst, dest)
        finally:
            dst.close()
    except PermissionError:
        tmp.unlink(missing_ok=True)
        raise PermissionDenied.on(dest.parent, "write") from None
    except (OSError, sqlite3.Error) as exc:
        tmp.unlink(missing_ok=True)
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise Refused(f"cannot write the backup {dest}: {detail}", code="BACKUP_FAILED") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    if not info.ok:
        tmp.unlink(missing_ok=True)
        raise Refused(f"the backup of {source} failed its integrity check: {info.integrity}")
    progress("syncing to disk", 0, None)
    with tmp.open("rb+") as handle:
        os.fsync(handle.fileno())
    tmp.replace(dest)
    _fsync_dir(dest.parent)
    return info


def backup_name(at: float) -> str:
    """`lls-YYYYMMDD-HHMMSS.mmmZ.db` in UTC: names sort in time order."""
    moment = datetime.fromtimestamp(at, tz=UTC)
    return f"lls-{moment:%Y%m%d-%H%M%S}.{moment.microsecond // 1000:03d}Z.db"


def list_backups(folder: Path) -> list[Path]:
    """The scheduled backups in `folder`, oldest first (other files are left alone)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if BACKUP_NAME.match(p.name))


def scheduled_backup(source: Path, folder: Path, keep: int, now: float | None = None) -> Path:
    """Write a new backup into `folder`, then delete all but the newest `keep` backups."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    dest = folder / backup_name(time.time() if now is None else now)
    backup_database(source, dest)
    for old in list_backups(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return dest


def newest_backup_time(folder: Path) -> float | None:
    """When the newest scheduled backup in `folder` was written, if there is one."""
    found = list_backups(folder)
    return found[-1].stat().st_mtime if found else None


def _to_rollback_journal(path: Path) -> None:
    """Checkpoint and leave WAL mode, so the file alone is the whole database."""
    conn = _open_existing(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def replace_database(db_path: Path, staging: Path, now: float | None = None) -> Path | None:
    """Put `staging` in place of `db_path`, keeping the replaced file as `lls.db.<time>.bak`.

    The caller holds the data-directory lock (no daemon runs). Returns the .bak path.
    """
    kept: Path | None = None
    if db_path.exists():
        stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
        kept = db_path.with_name(f"{db_path.name}.{stamp:%Y%m%d-%H%M%S}Z.bak")
        backup_database(db_path, kept)  # through SQLite: includes what only the -wal holds
        _to_rollback_journal(db_path)
    _to_rollback_journal(staging)
    staging.replace(db_path)
    with contextlib.suppress(OSError):
        for suffix in ("-wal", "-shm"):  # never let a stale log meet the restored file
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    _fsync_dir(db_path.parent)
    return kept
