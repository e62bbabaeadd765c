"""What the admin API, /readyz and /metrics read of the state, as plain values.

They are computed by the facade's read side (domain.read_side) so that no handler reads the
state's fields one by one, nor the store behind it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from lls.domain.models import Pool
from lls.domain.seat_queue import QueueStats
from lls.domain.state import LicenseState, LicensingState


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """GET /admin/status, and the dashboard's pool and usage pages."""

    pool: Pool | None
    pool_imported_at: float | None
    tampered: bool
    floor: float
    usage_seq: int
    ack_event_id: int
    last_usage_export: float | None
    licenses: int
    live_sessions: int


@dataclass(frozen=True, slots=True)
class MetricsView:
    """What a /metrics scrape takes on the event loop (rendered on its own thread)."""

    licenses: Mapping[str, LicenseState]
    pool: Pool | None
    changed: set[str]  # licenses whose figures changed since the last scrape
    now: float
    tampered: bool
    floor: float
    last_export: float | None
    writable: bool
    queues: dict[str, QueueStats]  # the seat queue's counters (a copy), by license token


def status(st: LicensingState, now: float) -> ServerStatus:
    return ServerStatus(
        pool=st.pool,
        pool_imported_at=st.pool_imported_at,
        tampered=st.tampered,
        floor=st.floor,
        usage_seq=st.usage_seq,
        ack_event_id=st.ack_event_id,
        last_usage_export=st.last_usage_export,
        licenses=len(st.licenses),
        live_sessions=sum(1 for s in st.by_id.values() if s.expires_at > now),
    )


def ready_problems(st: LicensingState, now: float) -> list[str]:
    """Why this instance cannot serve licensing calls right now (none: ready)."""
    problems: list[str] = []
    if st.pool is None:
        problems.append("no pool imported")
    elif st.pool_exp is not None and now >= st.pool_exp:
        problems.append("the pool has expired")
    if st.tampered:
        problems.append("the clock is below the trusted floor")
    if not st.gate.writable:
        problems.append("the database refuses writes (disk full or I/O error); reads still answer")
    return problems


def take_metrics_view(st: LicensingState, now: float) -> MetricsView:
    changed, st.changed = st.changed, set()
    return MetricsView(
        licenses=st.licenses,
        pool=st.pool,
        changed=changed,
        now=now,
        tampered=st.tampered,
        floor=st.floor,
        last_export=st.last_usage_export,
        writable=st.gate.writable,
        queues={t: dataclasses.replace(q) for t, q in st.queue_stats.items()},
    )
