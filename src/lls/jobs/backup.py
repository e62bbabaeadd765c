"""The scheduled database backup: a thin job around a backup function the wiring provides."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

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
