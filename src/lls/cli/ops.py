"""`lls backup` and `lls restore`: a consistent copy of the database, and putting one back."""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path
from typing import Any

from lls.cli.args import add_instance_options, add_json, config_of, emit
from lls.cli.progress import progress_for
from lls.config.settings import Config
from lls.errors import LLSError, PermissionDenied, Refused
from lls.instance import load_instance
from lls.ops.lock import DataDirLock
from lls.store.backup import DatabaseInfo, backup_database, inspect_database, replace_database

RESTORE_DIR = ".restore"  # inside the data directory: same file system, so the rename is atomic


def _info_doc(info: DatabaseInfo) -> dict[str, Any]:
    return {
        "file": str(info.path),
        "integrity": info.integrity,
        "schemaVersion": info.schema_version,
        "poolSeq": info.pool_seq,
        "sessions": info.sessions,
        "events": info.events,
    }


def _existing_parent(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _sqlite_only(config: Config, what: str) -> None:
    """backup/restore copy the SQLite file; with store.url set it is not the instance's
    database, so copying or replacing it would be a backup of nothing."""
    if config.store_url:
        raise Refused(
            f"lls {what} works on the SQLite file; this instance's store is PostgreSQL"
            " (store.url): back it up and restore it with pg_dump / pg_restore (docs/ha.md)"
        )


def cmd_backup(args: argparse.Namespace) -> int:
    config = config_of(args)
    _sqlite_only(config, "backup")
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # e.g. /var/lib/lls/backups
    except PermissionError:
        raise PermissionDenied.on(_existing_parent(out), "write") from None
    with progress_for(args, "backup") as progress:
        info = backup_database(config.db_path, out, progress=progress.stage)
    return emit(
        args,
        _info_doc(info),
        f"wrote {out}: integrity {info.integrity}, schema {info.schema_version},"
        f" pool seq {info.pool_seq}, {info.sessions} sessions, {info.events} audit events",
    )


def cmd_restore(args: argparse.Namespace) -> int:
    from lls.app.licensing import verify_database

    config = config_of(args)
    _sqlite_only(config, "restore")
    instance = load_instance(config.data_dir)
    source = Path(args.file)
    with (
        DataDirLock(config.data_dir, "restoring a backup"),
        progress_for(args, "restore") as progress,
    ):
        progress.stage("checking the backup")
        backup = inspect_database(source)
        if not backup.ok:
            raise Refused(f"{source} fails its integrity check: {backup.integrity}")
        if config.db_path.exists():
            current = inspect_database(config.db_path, newer_schema_ok=True).pool_seq
            if backup.pool_seq < current and not args.force:
                raise Refused(
                    f"{source} holds pool seq {backup.pool_seq}, older than the data directory's"
                    f" {current}: restoring it would bring back seats freed since;"
                    " add --force to restore it anyway",
                    code="BACKUP_OLDER_THAN_POOL",
                )
        staging_dir = config.data_dir / RESTORE_DIR
        shutil.rmtree(staging_dir, ignore_errors=True)
        staging_dir.mkdir(mode=0o700)
        try:
            staging = staging_dir / config.db_path.name
            backup_database(source, staging, progress=progress.stage)
            # Opened as the daemon will: migrations, the stored pool verified with our keys.
            progress.stage("verifying the pool with this instance's keys")
            try:
                seq, live = asyncio.run(verify_database(instance, staging_dir))
            except LLSError as error:
                raise Refused(f"{source} cannot be restored here: {error.message}") from None
            except Exception as exc:  # e.g. SQLite refusing a schema that is not ours
                raise Refused(f"{source} is not a database of this instance: {exc}") from None
            progress.stage("replacing the database")
            kept = replace_database(config.db_path, staging)
        finally:
            shutil.rmtree(staging_dir, ignore_errors=True)
    lines = [f"restored {source} into {config.data_dir}: pool seq {seq}, {live} live sessions"]
    if kept is not None:
        lines.append(f"the replaced database is kept as {kept}")
    doc = {
        "restored": str(source),
        "poolSeq": seq,
        "liveSessions": live,
        "kept": str(kept) if kept else None,
    }
    return emit(args, doc, lines)


def add_ops_parsers(sub: Any) -> None:
    """Register backup and restore on the `lls` parser."""
    p = sub.add_parser(
        "backup", help="write a consistent copy of the database (safe while the server runs)"
    )
    add_instance_options(p)
    add_json(p)
    p.add_argument("--out", required=True, help="the backup file to write")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore", help="replace the database with a backup (the server must be stopped)"
    )
    add_instance_options(p)
    add_json(p)
    p.add_argument("file", help="a backup written by `lls backup` or the scheduled backups")
    p.add_argument(
        "--force",
        action="store_true",
        help="restore even a backup whose pool is older than the data directory's",
    )
    p.set_defaults(func=cmd_restore)
