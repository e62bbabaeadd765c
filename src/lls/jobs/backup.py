"""The scheduled database backup: a thin job around a backup function the wiring provides."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from lls.ops.logs import fields

log = logging.getLogger(__name__)

MakeBackup = Callable[[], Awaitable[object]]


async def run_backup(make_backup: MakeBackup) -> None:
    """Write one backup (and prune old ones); a failure is logged and retried next interval."""
    try:
        written = await make_backup()
    except Exception:
        log.exception("scheduled backup failed")
        return
    log.info("backup written", extra=fields(path=str(written)))


def add_backup_job(
    scheduler: AsyncIOScheduler,
    make_backup: MakeBackup,
    *,
    interval_s: float,
    last_backup_at: float | None,
    now: float,
) -> None:
    """Every `interval_s`; the first one is due `interval_s` after the newest existing backup
    (at once when there is none or it is overdue), so restarts never skip a backup."""
    due = now if last_backup_at is None else max(now, last_backup_at + interval_s)
    scheduler.add_job(
        run_backup,
        "interval",
        args=[make_backup],
        seconds=interval_s,
        next_run_time=datetime.fromtimestamp(due, tz=UTC) + timedelta(milliseconds=50),
        id="backup",
    )
