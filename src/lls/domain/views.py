"""The read model: what the admin is shown, computed from the in-memory state alone.

The dashboard calls these and so can the admin API (issue 14 asks it for the same
paginated, filtered lists). They read the state the rules keep — never the
database — and change nothing, so a viewer's page or a polling overview cannot
disturb a licensing decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lls.domain.models import OfflineActivation, Pool, Session
from lls.domain.pages import Order, Page, SortKey, paginate, parse_order, search_text, sort_key
from lls.domain.state import LicenseState
from lls.errors import BadRequest

LICENSE_TYPES = ("floating", "node-locked", "temporary")
CONDITIONS = ("active", "suspended", "revoked", "locked", "expired", "not-yet-valid")
LICENSE_SORTS = ("token", "company", "type", "status", "seats", "used", "utilisation", "expires")
SESSION_SORTS = ("started", "expires", "license", "authContext")
OFFLINE_SORTS = ("lease", "activated", "license", "authContext")
MAX_ENVIRONMENTS_SHOWN = 50


class ReadState(Protocol):
    """What the read model needs of the licensing state (the service satisfies it today;
    the core of issue 13 keeps these names, so the read model moves with it unchanged)."""

    @property
    def licenses(self) -> Mapping[str, LicenseState]: ...
    @property
    def by_id(self) -> Mapping[str, Session]: ...
    @property
    def offline_by_id(self) -> Mapping[str, OfflineActivation]: ...
    @property
    def environments(self) -> Mapping[str, str]: ...
    @property
    def pool(self) -> Pool | None: ...
    @property
    def pool_imported_at(self) -> float | None: ...
    @property
    def floor(self) -> float: ...
    @property
    def tampered(self) -> bool: ...
    @property
    def usage_seq(self) -> int: ...
    @property
    def last_usage_export(self) -> float | None: ...


# -- one license ------------------------------------------------------------------------


def condition(state: LicenseState, now: float) -> str:
    """The one word an admin filters by: the pool's status, or why an active one cannot serve."""
    lic = state.license
    if state.locked_at is not None:
        return "locked"
    if lic.status != "active":
        return lic.status
    if lic.valid_from is not None and now < lic.valid_from:
        return "not-yet-valid"
    expires = state.expires_at()
    if expires is not None and now >= expires:
        return "expired"
    return "active"


def seats_in_use(state: LicenseState, now: float) -> int:
    """Seats held right now: live sessions plus offline leases not yet over."""
    used = sum(1 for s in state.sessions.values() if s.expires_at > now)
    if state.offline:
        used += sum(1 for a in state.offline.values() if a.live(now))
    return used


def utilisation(used: int, seats: int) -> float:
    """Share of seats in use, 0–1 (a license without seats is full as soon as one is used)."""
    if seats <= 0:
        return 1.0 if used else 0.0
    return min(1.0, used / seats)


@dataclass(frozen=True, slots=True)
class FeatureFigure:
    """A feature's figures as the admin reads them: floating units held, or consumption used."""

    code: str
    type: str
    total: int | None
    used: int
    available: int | None


def feature_figures(state: LicenseState) -> tuple[FeatureFigure, ...]:
    figures = []
    for f in state.license.features:
        if f.type == "floating":
            used = state.in_use.get(f.code, 0)
        elif f.type == "consumption":
            used = state.consumed.get(f.code, 0)
        else:
            used = 0
        available = None if f.count is None else max(0, f.count - used)
        figures.append(FeatureFigure(f.code, f.type, f.count, used, available))
    return tuple(figures)


# -- the licenses list ------------------------------------------------------------------


class LicenseIndex:
    """Per pool: every license in token order and the figures that only a pool changes.

    Built once per imported pool (about 0.1 s for 100,000 licenses), so a page or a
    poll does not sort or sum the whole pool again."""

    def __init__(self, pool: Pool | None, licenses: Mapping[str, LicenseState]) -> None:
        self.pool = pool
        self.states: tuple[LicenseState, ...] = tuple(
            sorted(licenses.values(), key=lambda s: s.license.token)
        )
        active = [s.license for s in self.states if s.license.status == "active"]
        self.seats_total = sum(lic.seats for lic in active)
        self.active = len(active)
        self.statuses: dict[str, int] = {}
        self.types: dict[str, int] = {}
        for s in self.states:
            lic = s.license
            self.statuses[lic.status] = self.statuses.get(lic.status, 0) + 1
            self.types[lic.type] = self.types.get(lic.type, 0) + 1

    def fits(self, state: ReadState) -> bool:
        return self.pool is state.pool and len(self.states) == len(state.licenses)


def license_index(state: ReadState, cached: LicenseIndex | None) -> LicenseIndex:
    """`cached` while it still describes the current pool, else a new index."""
    if cached is not None and cached.fits(state):
        return cached
    return LicenseIndex(state.pool, state.licenses)


@dataclass(frozen=True, slots=True)
class LicenseQuery:
    """Filters of the licenses list: text (token prefix, company, product code), type, status."""

    search: str = ""
    type: str = ""
    status: str = ""
    order: Order = field(default_factory=lambda: Order("token"))

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], *, default_limit: int = 100, default_sort: str = "token"
    ) -> LicenseQuery:
        kind = params.get("type") or ""
        if kind and kind not in LICENSE_TYPES:
            raise BadRequest(f"type must be one of {', '.join(LICENSE_TYPES)}", field="type")
        status = params.get("status") or ""
        if status and status not in CONDITIONS:
            raise BadRequest(f"status must be one of {', '.join(CONDITIONS)}", field="status")
        order = parse_order(
            params, LICENSE_SORTS, default_sort=default_sort, default_limit=default_limit
        )
        return cls(search_text(params), kind, status, order)


def _matches(state: LicenseState, q: str) -> bool:
    lic = state.license
    if lic.token.casefold().startswith(q):
        return True
    if lic.company_name and q in lic.company_name.casefold():
        return True
    if any(code.casefold().startswith(q) for code in lic.product_codes):
        return True
    name = getattr(lic, "id", None)  # the pool's optional non-secret id (i12b)
    return isinstance(name, str) and name.casefold().startswith(q)


def license_sort_key(sort: str, now: float) -> Callable[[LicenseState], SortKey]:
    """The key function of one sort of the licenses list."""

    def key(state: LicenseState) -> SortKey:
        lic = state.license
        tie = lic.token
        if sort == "token":
            return sort_key(tie, tie)
        if sort == "company":
            return sort_key(lic.company_name.casefold() if lic.company_name else None, tie)
        if sort == "type":
            return sort_key(lic.type, tie)
        if sort == "status":
            return sort_key(condition(state, now), tie)
        if sort == "seats":
            return sort_key(lic.seats, tie)
        used = seats_in_use(state, now)
        if sort == "used":
            return sort_key(used, tie)
        if sort == "utilisation":
            return sort_key(utilisation(used, lic.seats), tie)
        return sort_key(state.expires_at(), tie)

    return key


def list_licenses(index: LicenseIndex, query: LicenseQuery, now: float) -> Page[LicenseState]:
    """One page of the licenses matching `query`, in its order."""
    rows: Sequence[LicenseState] = index.states
    if query.type:
        rows = [s for s in rows if s.license.type == query.type]
    if query.search:
        q = query.search
        rows = [s for s in rows if _matches(s, q)]
    if query.status:
        rows = [s for s in rows if condition(s, now) == query.status]
    key = license_sort_key(query.order.sort, now)
    return paginate(rows, key, query.order)


# -- sessions and offline seats ---------------------------------------------------------


def client_address(session: Session) -> str | None:
    """The address a session was started from, once sessions carry it (i12b)."""
    value = getattr(session, "client_address", None)
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """Filters of the sessions list: one license, and text in authContext, token or address."""

    license: str = ""
    search: str = ""
    order: Order = field(default_factory=lambda: Order("started"))

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, str],
        *,
        default_limit: int = 100,
        default_descending: bool = False,
    ) -> SessionQuery:
        order = parse_order(
            params,
            SESSION_SORTS,
            default_sort="started",
            default_descending=default_descending,
            default_limit=default_limit,
        )
        return cls((params.get("license") or "").strip(), search_text(params), order)


def _session_matches(session: Session, q: str) -> bool:
    if q in session.auth_context.casefold() or session.license.casefold().startswith(q):
        return True
    address = client_address(session)
    return address is not None and q in address.casefold()


def _session_key(sort: str) -> Callable[[Session], SortKey]:
    def key(session: Session) -> SortKey:
        if sort == "expires":
            return sort_key(session.expires_at, session.id)
        if sort == "license":
            return sort_key(session.license, session.id)
        if sort == "authContext":
            return sort_key(session.auth_context, session.id)
        return sort_key(session.started_at, session.id)

    return key


def list_sessions(sessions: Iterable[Session], query: SessionQuery, now: float) -> Page[Session]:
    """One page of the live sessions matching `query`."""
    rows = [s for s in sessions if s.expires_at > now]
    if query.license:
        rows = [s for s in rows if s.license == query.license]
    if query.search:
        rows = [s for s in rows if _session_matches(s, query.search)]
    return paginate(rows, _session_key(query.order.sort), query.order)


def _offline_key(sort: str) -> Callable[[OfflineActivation], SortKey]:
    def key(a: OfflineActivation) -> SortKey:
        if sort == "activated":
            return sort_key(a.activated_at, a.id)
        if sort == "license":
            return sort_key(a.license, a.id)
        if sort == "authContext":
            return sort_key(a.auth_context, a.id)
        return sort_key(a.lease_expires_at, a.id)

    return key


def list_offline(
    activations: Iterable[OfflineActivation], order: Order, now: float, *, live_only: bool
) -> Page[OfflineActivation]:
    """One page of the offline seats (only those still holding a seat when `live_only`)."""
    rows = [a for a in activations if a.live(now)] if live_only else list(activations)
    return paginate(rows, _offline_key(order.sort), order)


# -- one license in full ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LicenseDetail:
    """Everything the license page shows besides the audit timeline."""

    state: LicenseState
    condition: str
    seats_used: int
    sessions: tuple[Session, ...]
    offline: tuple[OfflineActivation, ...]
    features: tuple[FeatureFigure, ...]
    expires_at: float | None
    environments: tuple[str, ...]  # bound to this license's organisation (the first ones)
    environments_total: int


def license_detail(state: ReadState, token: str, now: float) -> LicenseDetail | None:
    """The license `token` with its live use, or None when the pool has no such license."""
    found = state.licenses.get(token)
    if found is None:
        return None
    org = found.license.org_id
    envs = sorted(ctx for ctx, owner in state.environments.items() if owner == org)
    return LicenseDetail(
        state=found,
        condition=condition(found, now),
        seats_used=seats_in_use(found, now),
        sessions=tuple(
            sorted(
                (s for s in found.sessions.values() if s.expires_at > now),
                key=lambda s: s.started_at,
            )
        ),
        offline=tuple(sorted(found.offline.values(), key=lambda a: -a.lease_expires_at)),
        features=feature_figures(found),
        expires_at=found.expires_at(),
        environments=tuple(envs[:MAX_ENVIRONMENTS_SHOWN]),
        environments_total=len(envs),
    )
