"""The read model: what the admin is shown, computed from the in-memory state alone.

The dashboard calls these and so can the admin API (issue 14 asks it for the same
paginated, filtered lists). They read the state the rules keep — never the
database — and change nothing, so a viewer's page or a polling overview cannot
disturb a licensing decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lls.domain.models import OfflineActivation, Pool, Session
from lls.domain.pages import Order, Page, SortKey, paginate, parse_order, search_text, sort_key
from lls.domain.state import LicenseState
from lls.errors import BadRequest

LICENSE_TYPES = ("floating", "node-locked", "temporary")
CONDITIONS = ("active", "suspended", "revoked", "locked", "expired", "not-yet-valid")
SESSION_SORTS = ("started", "expires", "license", "authContext")
OFFLINE_SORTS = ("lease", "activated", "license", "authContext")
MAX_ENVIRONMENTS_SHOWN = 50


class ReadState(Protocol):
    """What the read model needs of the licensing state: LicensingState (domain.state)
    satisfies it, and the facade hands it out read-only as `Licensing.view()`."""

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
    auth_context: str = ""  # exactly this authContext (the admin API's filter)

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
        auth_context = (params.get("authContext") or "").strip()
        if len(auth_context) > 1024:
            raise BadRequest("authContext is longer than 1,024 characters", field="authContext")
        return cls((params.get("license") or "").strip(), search_text(params), order, auth_context)


def _session_matches(session: Session, q: str) -> bool:
    if q in session.auth_context.casefold() or session.license.casefold().startswith(q):
        return True
    address = client_address(session)
    return address is not None and q in address.casefold()


def _session_key(sort: str) -> Callable[[Session], SortKey]:
    if sort == "expires":
        return lambda s: (0, s.expires_at, s.id)
    if sort == "license":
        return lambda s: (0, s.license, s.id)
    if sort == "authContext":
        return lambda s: (0, s.auth_context, s.id)
    return lambda s: (0, s.started_at, s.id)


def list_sessions(sessions: Iterable[Session], query: SessionQuery, now: float) -> Page[Session]:
    """One page of the live sessions matching `query`."""
    rows = [s for s in sessions if s.expires_at > now]
    if query.license:
        rows = [s for s in rows if s.license == query.license]
    if query.auth_context:
        rows = [s for s in rows if s.auth_context == query.auth_context]
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
