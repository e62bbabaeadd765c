"""The daemon's scheduler and its jobs (expire sessions, persist the clock floor, drop folders).

The jobs are planned from the settings; a reload plans them again and only the
jobs whose plan changed are rescheduled (an unchanged daily usage export keeps
its next run time, so reloading never postpones it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from lls.config.settings import Config
from lls.domain.service import Licensing
from lls.errors import StorageError
from lls.jobs.backup import MakeBackup, run_backup
from lls.jobs.drop_folders import sync_inbox, sync_outbox

log = logging.getLogger(__name__)

# The wiring builds the backup function (jobs never touch the store): for a config,
# the function (None: backups off) and when the newest existing backup was written.
BackupFactory = Callable[[Config], tuple[MakeBackup | None, float | None]]


async def expire_sessions(licensing: Licensing) -> None:
    """End sessions whose window passed, so their seats are free for the next activate."""
    ended = await licensing.upkeep.expire_due()
    if ended:
        log.debug("expired %d sessions", ended)
    try:  # the usage history's changed hour buckets, and a new hour begun
        await licensing.upkeep.flush_history()
    except StorageError:
        log.debug("history not written: the database refuses writes; the next run retries")


async def persist_clock_floor(licensing: Licensing) -> None:
    """Save the trusted-time floor so a clock turned back is noticed across restarts too."""
    try:
        await licensing.upkeep.persist_floor()
    except StorageError:  # the disk is full: the writer said so once; the next run retries
        log.debug("clock floor not persisted: the database refuses writes")


async def detect_misuse(licensing: Licensing) -> None:
    """Lock licenses whose recent sessions came from more machines than their misuse limit."""
    try:
        locked = await licensing.upkeep.detect_misuse()
    except StorageError:  # what was noted is kept for the next run
        log.debug("misuse check skipped: the database refuses writes")
        return
    if locked:
        log.warning("%d license(s) locked for suspected misuse; see the audit log", len(locked))


@dataclass(frozen=True, slots=True)
class JobPlan:
    """One job: what runs, how often, and the settings it depends on (`key`)."""

    id: str
    func: Callable[..., Awaitable[None]]
    args: tuple[object, ...]
    seconds: float
    key: Hashable
    first_run: float | None = field(default=None, compare=False)  # wall time; None: one interval


def plan_jobs(
    config: Config, licensing: Licensing, backup: MakeBackup | None, last_backup_at: float | None
) -> list[JobPlan]:
    """Every job the settings ask for."""
    plans = [
        JobPlan(
            "expire_sessions",
            expire_sessions,
            (licensing,),
            config.sweep_interval_s,
            config.sweep_interval_s,
        ),
        JobPlan(
            "persist_clock_floor",
            persist_clock_floor,
            (licensing,),
            config.floor_persist_s,
            config.floor_persist_s,
        ),
        JobPlan(
            "detect_misuse",
            detect_misuse,
            (licensing,),
            config.misuse_interval_s,
            config.misuse_interval_s,
        ),
    ]
    if config.sync_inbox:
        inbox = Path(config.sync_inbox)
        plans.append(
            JobPlan(
                "sync_inbox",
                sync_inbox,
                (licensing, inbox, config.sync_settle_s),
                config.sync_interval_s,
                (str(inbox), config.sync_settle_s, config.sync_interval_s),
            )
        )
    if config.sync_outbox:
        outbox = Path(config.sync_outbox)
        plans.append(
            JobPlan(
                "sync_outbox",
                sync_outbox,
                (licensing, outbox),
                config.sync_usage_interval_s,
                (str(outbox), config.sync_usage_interval_s),
            )
        )
    if backup is not None:
        # Due `interval` after the newest existing backup (at once when none or overdue),
        # so restarts never skip a backup; the scheduler runs on wall time, as file mtimes.
        now = time.time()
        interval = config.backup_interval_s
        due = now if last_backup_at is None else max(now, last_backup_at + interval)
        plans.append(
            JobPlan(
                "backup",
                run_backup,
                (backup,),
                interval,
                (config.backup_dir, config.backup_keep, interval),
                first_run=due,
            )
        )
    return plans


class DaemonJobs:
    """The scheduler with the jobs of the current settings; `apply` re-plans them live."""

    def __init__(self, licensing: Licensing, backup_for: BackupFactory) -> None:
        self.scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        self._licensing = licensing
        self._backup_for = backup_for
        self._plans: dict[str, JobPlan] = {}

    def apply(self, config: Config) -> list[str]:
        """Schedule the jobs `config` asks for; returns the ids added, changed or removed."""
        backup, last_backup_at = self._backup_for(config)
        wanted = {p.id: p for p in plan_jobs(config, self._licensing, backup, last_backup_at)}
        touched = []
        for job_id in sorted(set(self._plans) - set(wanted)):
            self.scheduler.remove_job(job_id)
            del self._plans[job_id]
            touched.append(job_id)
        for job_id, plan in wanted.items():
            old = self._plans.get(job_id)
            if old is not None and old.key == plan.key:
                continue
            if old is not None:
                self.scheduler.remove_job(job_id)
            self._add(plan)
            touched.append(job_id)
        return touched

    def _add(self, plan: JobPlan) -> None:
        next_run = (
            datetime.fromtimestamp(plan.first_run, tz=UTC) + timedelta(milliseconds=50)
            if plan.first_run is not None
            else datetime.now(tz=UTC) + timedelta(seconds=plan.seconds)
        )
        self.scheduler.add_job(
            plan.func,
            "interval",
            args=list(plan.args),
            seconds=plan.seconds,
            next_run_time=next_run,
            id=plan.id,
        )
        self._plans[plan.id] = plan

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
