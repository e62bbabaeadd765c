"""Reading the audit log newest first, filtered, in bounded steps.

The store answers only "events after id N, oldest first" today; ids are dense
(one more per event, acknowledged ones pruned from the bottom), so a page is read
backwards in chunks below a `before` id, and a filter is applied to what was read.
A filtered search stops after `budget` events and offers to search further, so no
request reads the whole log. Phase 2 replaces this with a store query by license
and type (the `events_license` index exists already).
"""

from __future__ import annotations

from dataclasses import dataclass

from lls.domain.models import AuditEvent
from lls.domain.overview import EventFilter, select_events
from lls.domain.service import Licensing

CHUNK = 1000
SCAN_BUDGET = 10_000

# Families first (a family matches every type in it), then each type the server writes.
EVENT_TYPES = (
    "session",
    "feature",
    "license",
    "offline",
    "pool.imported",
    "usage.exported",
    "clock.tampered",
    "environment.released",
    "session.started",
    "session.ended",
    "feature.checkout",
    "feature.return",
    "license.bound",
    "license.locked",
    "license.unlocked",
    "license.dissociated",
    "offline.activated",
    "offline.refreshed",
    "offline.deactivated",
)


@dataclass(frozen=True, slots=True)
class Scan:
    """A page of events, newest first, and where an older page would start."""

    events: tuple[AuditEvent, ...]
    older: int | None  # the `before` of the next older page; None at the start of the log
    searched_to: int  # the oldest id looked at
    newest: int  # the newest id in the log
    limited: bool  # a filtered search stopped at its budget before filling the page


async def scan_events(
    licensing: Licensing,
    wanted: EventFilter,
    *,
    before: int | None,
    page: int,
    budget: int = SCAN_BUDGET,
) -> Scan:
    """Up to `page` events below id `before` (None: from the newest) that `wanted` keeps."""
    newest, _ = await licensing.reads.chain_head()
    low = newest + 1 if before is None else max(1, min(before, newest + 1))
    found: list[AuditEvent] = []
    scanned = 0
    at_start = low <= 1
    while not at_start and len(found) < page and scanned < budget:
        step = min(CHUNK, budget - scanned) if wanted.active else page - len(found)
        after = max(0, low - 1 - step)
        events = [e for e in await licensing.reads.audit(after=after, limit=step) if e.id < low]
        if not events:
            at_start = True
            break
        scanned += len(events)
        if events[0].id > after + 1 or after == 0:
            at_start = True  # below here the vendor's acknowledged events were pruned
        kept = select_events(events, wanted)
        need = page - len(found)
        if len(kept) > need:
            kept = kept[:need]
            low = kept[-1].id
            at_start = False
        else:
            low = events[0].id
        found.extend(kept)
    limited = wanted.active and not at_start and len(found) < page
    return Scan(
        events=tuple(found),
        older=None if at_start or low <= 1 else low,
        searched_to=low,
        newest=newest,
        limited=limited,
    )
