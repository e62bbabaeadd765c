"""The daemon's scheduler and its jobs (expire sessions, persist the clock floor)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from lls.config import Config
from lls.domain.service import Licensing
from lls.errors import StorageError
from lls.jobs.backup import MakeBackup, add_backup_job
from lls.jobs.drop_folders import sync_inbox, sync_outbox

log = logging.getLogger(__name__)


async def expire_sessions(licensing: Licensing) -> None:
    """End sessions whose window passed, so their seats are free for the next activate."""
    ended = await licensing.expire_due()
    if ended:
        log.debug("expired %d sessions", ended)


async def persist_clock_floor(licensing: Licensing) -> None:
    """Save the trusted-time floor so a clock turned back is noticed across restarts too."""
    try:
        await licensing.persist_floor()
    except StorageError:  # the disk is full: the writer said so once; the next run retries
        log.debug("clock floor not persisted: the database refuses writes")


async def detect_misuse(licensing: Licensing) -> None:
    """Lock licenses whose recent sessions came from more machines than their misuse limit."""
    try:
        locked = await licensing.detect_misuse()
    except StorageError:  # what was noted is kept for the next run
        log.debug("misuse check skipped: the database refuses writes")
        return
    if locked:
        log.warning("%d license(s) locked for suspected misuse; see the audit log", len(locked))


def build_scheduler(
    config: Config,
    licensing: Licensing,
    *,
    backup: MakeBackup | None = None,
    last_backup_at: float | None = None,
) -> AsyncIOScheduler:
    """A scheduler with every job registered; the caller starts it on the running loop.

    `backup` (given when backup.dir is set) writes one backup; it comes from the
    wiring because jobs do not touch the store directly.
    """
    scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
    if backup is not None:
        add_backup_job(
            scheduler,
            backup,
            interval_s=config.backup_interval_s,
            last_backup_at=last_backup_at,
            now=time.time(),  # the scheduler runs on wall time, as backup files' mtimes
        )
    if config.sync_inbox:
        scheduler.add_job(
            sync_inbox,
            "interval",
            args=[licensing, Path(config.sync_inbox), config.sync_settle_s],
            seconds=config.sync_interval_s,
            id="sync_inbox",
        )
    if config.sync_outbox:
        scheduler.add_job(
            sync_outbox,
            "interval",
            args=[licensing, Path(config.sync_outbox)],
            seconds=config.sync_usage_interval_s,
            id="sync_outbox",
        )
    scheduler.add_job(
        expire_sessions,
        "interval",
        args=[licensing],
        seconds=config.sweep_interval_s,
        id="expire_sessions",
    )
    scheduler.add_job(
        persist_clock_floor,
        "interval",
        args=[licensing],
        seconds=config.floor_persist_s,
        id="persist_clock_floor",
    )
    scheduler.add_job(
        detect_misuse,
        "interval",
        args=[licensing],
        seconds=config.misuse_interval_s,
        id="detect_misuse",
    )
    return scheduler
