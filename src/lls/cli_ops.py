"""`lls` commands for operators: the status and audit views, backup and restore."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lls.errors import LLSError, Refused
from lls.instance import load_instance
from lls.ops.lock import DataDirLock
from lls.store.backup import backup_database, inspect_database, replace_database
from lls.views import print_fields, print_table, status_fields

RESTORE_DIR = ".restore"  # inside the data directory: same file system, so the rename is atomic


def cmd_status(args: argparse.Namespace) -> int:
    from lls.cli import _server_or_fail

    _, doc = _server_or_fail(args).call("GET", "/admin/v1/status")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_fields(status_fields(doc, time.time()))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from lls.cli import _server_or_fail

    query = urlencode({"after": args.after, "limit": args.limit})
    _, doc = _server_or_fail(args).call("GET", f"/admin/v1/audit?{query}")
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    rows = [
        {**event, "data": json.dumps(event.get("data") or {}, separators=(",", ":"))}
        for event in doc["events"]
    ]
    print_table(rows, ["id", "at", "type", "license", "authContext", "data"])
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from lls.cli import _config

    config = _config(args)
    out = Path(args.out)
    info = backup_database(config.db_path, out)
    print(
        f"wrote {out}: integrity {info.integrity}, schema {info.schema_version},"
        f" pool seq {info.pool_seq}, {info.sessions} sessions, {info.events} audit events"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from lls.app import verify_database
    from lls.cli import _config

    config = _config(args)
    instance = load_instance(config.data_dir)
    source = Path(args.file)
    with DataDirLock(config.data_dir, "restoring a backup"):
        backup = inspect_database(source)
        if not backup.ok:
            raise Refused(f"{source} fails its integrity check: {backup.integrity}")
        if config.db_path.exists():
            current = inspect_database(config.db_path).pool_seq
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
            backup_database(source, staging)
            # Opened as the daemon will: migrations, the stored pool verified with our keys.
            try:
                seq, live = asyncio.run(verify_database(instance, staging_dir))
            except LLSError as error:
                raise Refused(f"{source} cannot be restored here: {error.message}") from None
            except Exception as exc:  # e.g. SQLite refusing a schema that is not ours
                raise Refused(f"{source} is not a database of this instance: {exc}") from None
            kept = replace_database(config.db_path, staging)
        finally:
            shutil.rmtree(staging_dir, ignore_errors=True)
    print(f"restored {source} into {config.data_dir}: pool seq {seq}, {live} live sessions")
    if kept is not None:
        print(f"the replaced database is kept as {kept}")
    return 0


def add_ops_parsers(sub: Any, common: Any) -> None:
    """Register status, audit, backup and restore on the `lls` parser."""
    p = sub.add_parser("status", help="status of the running server (pool, clock, sessions)")
    common(p, url=True)
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("audit", help="audit events of the running server, oldest first")
    common(p, url=True)
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p.add_argument("--after", type=int, default=0, help="only events with a larger id")
    p.add_argument("--limit", type=int, default=100, help="at most this many events")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser(
        "backup", help="write a consistent copy of the database (safe while the server runs)"
    )
    common(p)
    p.add_argument("--out", required=True, help="the backup file to write")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore", help="replace the database with a backup (the server must be stopped)"
    )
    common(p)
    p.add_argument("file", help="a backup written by `lls backup` or the scheduled backups")
    p.add_argument(
        "--force",
        action="store_true",
        help="restore even a backup whose pool is older than the data directory's",
    )
    p.set_defaults(func=cmd_restore)
