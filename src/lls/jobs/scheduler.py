"""The daemon's scheduler and its jobs (expire sessions, persist the clock floor)."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from lls.config import Config
from lls.domain.service import Licensing

log = logging.getLogger(__name__)


async def expire_sessions(licensing: Licensing) -> None:
    """End sessions whose window passed, so their seats are free for the next activate."""
    ended = await licensing.expire_due()
    if ended:
        log.debug("expired %d sessions", ended)


async def persist_clock_floor(licensing: Licensing) -> None:
    """Save the trusted-time floor so a clock turned back is noticed across restarts too."""
    await licensing.persist_floor()


async def detect_misuse(licensing: Licensing) -> None:
    """Lock licenses whose recent sessions came from more machines than their misuse limit."""
    locked = await licensing.detect_misuse()
    if locked:
        log.warning("%d license(s) locked for suspected misuse; see the audit log", len(locked))


def build_scheduler(config: Config, licensing: Licensing) -> AsyncIOScheduler:
    """A scheduler with every job registered; the caller starts it on the running loop."""
    scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
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
