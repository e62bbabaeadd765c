"""The overview's figures and the audit log's filter: what an admin checks first.

Cheap enough to poll every few seconds: one pass over live sessions and offline
seats; the per-pool totals come from the license index built once per pool.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lls.domain.license_index import LicenseIndex
from lls.domain.models import AuditEvent
from lls.domain.state import DAY_S
from lls.domain.views import ReadState, utilisation
from lls.errors import BadRequest

POOL_WARN_DAYS = 30


# -- the overview -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Busy:
    """A license among the busiest: seats in use of seats granted."""

    token: str
    company: str | None
    used: int
    seats: int

    @property
    def share(self) -> float:
        return utilisation(self.used, self.seats)


@dataclass(frozen=True, slots=True)
class Overview:
    """The figures an admin checks first, cheap enough to poll every few seconds."""

    org_id: str | None
    org_name: str | None
    issuer: str | None  # the vendor that signed the pool (its iss)
    pool_seq: int | None
    pool_issued_at: float | None
    pool_expires_at: float | None
    pool_imported_at: float | None
    pool_days_left: float | None
    pool_warning: str | None  # "expired" | "soon" | None
    tampered: bool
    floor: float
    usage_seq: int
    usage_acked_seq: int
    last_usage_export: float | None
    licenses: int
    active_licenses: int
    locked_licenses: int
    statuses: dict[str, int]  # licenses by the pool's status (active, suspended, revoked…)
    seats_total: int
    seats_used: int
    live_sessions: int
    offline_seats: int
    busiest: tuple[Busy, ...]
    denials_today: dict[str, int] = field(default_factory=dict)  # by reason, since 00:00 UTC

    @property
    def denied_today(self) -> int:
        return sum(self.denials_today.values())

    @property
    def seats_free(self) -> int:
        return max(0, self.seats_total - self.seats_used)


def busiest(state: ReadState, now: float, n: int) -> tuple[Busy, ...]:
    """The `n` licenses with the largest share of their seats in use (only those in use)."""
    used: dict[str, int] = {}
    for session in state.by_id.values():
        if session.expires_at > now:
            used[session.license] = used.get(session.license, 0) + 1
    for activation in state.offline_by_id.values():
        if activation.live(now):
            used[activation.license] = used.get(activation.license, 0) + 1
    ranked = []
    for token, count in used.items():
        owner = state.licenses.get(token)
        if owner is not None:
            ranked.append((-utilisation(count, owner.license.seats), -count, token))
    top = heapq.nsmallest(n, ranked)
    return tuple(
        Busy(
            token,
            state.licenses[token].license.company_name,
            -count,
            state.licenses[token].license.seats,
        )
        for _, count, token in top
    )


def overview(
    state: ReadState,
    index: LicenseIndex,
    now: float,
    *,
    top: int = 8,
    denials_today: Mapping[str, int] | None = None,
) -> Overview:
    """The overview's figures: the pool, the clock, usage files, and seats across licenses;
    `denials_today` comes from the usage history (lls.domain.history)."""
    pool = state.pool
    days_left = (pool.exp - now) / DAY_S if pool else None
    warning = None
    if days_left is not None:
        warning = "expired" if days_left <= 0 else "soon" if days_left < POOL_WARN_DAYS else None
    live = sum(1 for s in state.by_id.values() if s.expires_at > now)
    offline = sum(1 for a in state.offline_by_id.values() if a.live(now))
    return Overview(
        org_id=pool.org_id if pool else None,
        org_name=pool.org_name if pool else None,
        issuer=pool.iss if pool else None,
        pool_seq=pool.seq if pool else None,
        pool_issued_at=float(pool.iat) if pool else None,
        pool_expires_at=float(pool.exp) if pool else None,
        pool_imported_at=state.pool_imported_at,
        pool_days_left=days_left,
        pool_warning=warning,
        tampered=state.tampered,
        floor=state.floor,
        usage_seq=state.usage_seq,
        usage_acked_seq=pool.ack_usage_seq if pool else 0,
        last_usage_export=state.last_usage_export,
        licenses=len(index.states),
        active_licenses=index.active,
        locked_licenses=sum(1 for s in index.states if s.locked_at is not None),
        statuses=dict(index.statuses),
        seats_total=index.seats_total,
        seats_used=live + offline,
        live_sessions=live,
        offline_seats=offline,
        busiest=busiest(state, now, top),
        denials_today=dict(denials_today or {}),
    )


# -- the audit log ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which audit events to show: a type (or a family such as `session`), a license, a
    device; the store cannot filter yet, so pages filter what they read (bounded)."""

    type: str = ""
    license: str = ""
    auth_context: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> EventFilter:
        values = []
        for name in ("type", "license", "authContext"):
            value = (params.get(name) or "").strip()
            if len(value) > 256:
                raise BadRequest(f"{name} is longer than 256 characters", field=name)
            values.append(value)
        return cls(*values)

    @property
    def active(self) -> bool:
        return bool(self.type or self.license or self.auth_context)

    def __call__(self, event: AuditEvent) -> bool:
        if self.type and event.type != self.type and not event.type.startswith(self.type + "."):
            return False
        if self.license and event.license != self.license:
            return False
        return not (self.auth_context and event.auth_context != self.auth_context)


def select_events(events: Sequence[AuditEvent], wanted: EventFilter) -> list[AuditEvent]:
    """The events `wanted` keeps, newest first."""
    return [e for e in reversed(events) if wanted(e)]
