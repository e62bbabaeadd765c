"""The licenses list at scale: an index built once per pool, so search and paging stay fast.

With 100,000 licenses a page must not scan and sort the pool per request. The
index keeps the licenses in token order (the default sort pages by bisection),
the folded tokens sorted for prefix search, and each company and product code
with the licenses that carry it (500 companies are matched, not 100,000 rows).
Figures that change with use (sessions, locks, expiry) are always read live.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import overload

from lls.domain.models import Pool
from lls.domain.pages import (
    Backwards,
    Order,
    Page,
    SortKey,
    paginate_display,
    parse_order,
    search_text,
    sort_key,
)
from lls.domain.state import LicenseState
from lls.domain.views import CONDITIONS, LICENSE_TYPES, ReadState, condition, utilisation
from lls.errors import BadRequest

LICENSE_SORTS = ("token", "company", "type", "status", "seats", "used", "utilisation", "expires")
_STATIC_SORTS = ("company", "type", "seats")  # orders only a pool changes: kept in the index
# Use, status and expiry move with time: their order is kept this long, their values on the
# page are always live (a license that just got busy may take a few seconds to move up).
LIVE_ORDER_S = 5.0
# Conditions an active license in the pool can also be in (a misuse lock, its dates), so
# filtering by them reads every license, not only those with that status in the pool.
_DERIVED = frozenset({"active", "locked", "expired", "not-yet-valid"})


class LicenseIndex:
    """Per pool: the licenses in token order, search tables, and the pool's fixed figures."""

    def __init__(self, pool: Pool | None, licenses: Mapping[str, LicenseState]) -> None:
        self.pool = pool
        self.states: tuple[LicenseState, ...] = tuple(
            sorted(licenses.values(), key=lambda s: s.license.token)
        )
        folded = sorted((s.license.token.casefold(), n) for n, s in enumerate(self.states))
        self._folded = [text for text, _ in folded]
        self._folded_at = [n for _, n in folded]
        self._companies: dict[str, list[int]] = {}
        self._codes: dict[str, list[int]] = {}  # product codes and the pool's license ids
        self.by_type: dict[str, list[int]] = {}
        self.by_status: dict[str, list[int]] = {}
        self.by_product: dict[str, list[int]] = {}  # exact product codes (the admin API)
        self._orders: dict[tuple[str, bool], tuple[float, tuple[int, ...]]] = {}
        for n, state in enumerate(self.states):
            lic = state.license
            if lic.company_name:
                self._companies.setdefault(lic.company_name.casefold(), []).append(n)
            for code in lic.product_codes:
                self._codes.setdefault(code.casefold(), []).append(n)
                self.by_product.setdefault(code, []).append(n)
            name = lic.id  # the pool's optional non-secret id
            if isinstance(name, str) and name:
                self._codes.setdefault(name.casefold(), []).append(n)
            self.by_type.setdefault(lic.type, []).append(n)
            self.by_status.setdefault(lic.status, []).append(n)
        active = [self.states[n].license for n in self.by_status.get("active", [])]
        self.seats_total = sum(lic.seats for lic in active)
        self.active = len(active)
        self.statuses = {status: len(rows) for status, rows in self.by_status.items()}
        self.types = {kind: len(rows) for kind, rows in self.by_type.items()}

    def fits(self, state: ReadState) -> bool:
        return self.pool is state.pool and len(self.states) == len(state.licenses)

    def search(self, q: str) -> list[int]:
        """Positions of the licenses whose token starts with `q`, whose company contains it,
        or one of whose product codes (or id) starts with it; `q` is already folded."""
        found: set[int] = set()
        lo = bisect.bisect_left(self._folded, q)
        hi = bisect.bisect_left(self._folded, q + "\U0010ffff", lo)
        found.update(self._folded_at[lo:hi])
        for company, rows in self._companies.items():
            if q in company:
                found.update(rows)
        for code, rows in self._codes.items():
            if code.startswith(q):
                found.update(rows)
        return sorted(found)

    def display_order(self, sort: str, descending: bool, now: float) -> tuple[int, ...]:
        """Positions of every license in the order `sort` shows them: computed once per
        pool for the sorts only a pool changes, at most every few seconds for the others."""
        kept = self._orders.get((sort, descending))
        if kept is not None and (sort in _STATIC_SORTS or now - kept[0] < LIVE_ORDER_S):
            return kept[1]
        key = license_sort_key(sort, now)
        keys = [key(s) for s in self.states]
        present = [n for n, k in enumerate(keys) if k[0] == 0]
        # A stable sort of positions already in token order: ties stay in token order
        # both ways, and licenses without a value (no company, no end) come last.
        present.sort(key=lambda n: keys[n][1], reverse=descending)
        order = (*present, *(n for n, k in enumerate(keys) if k[0] == 1))
        self._orders[(sort, descending)] = (now, order)
        return order


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
    # The admin API's filters (comma-separated lists): a license matches when one of its
    # product codes is listed, and when its status in the pool is listed.
    products: frozenset[str] = frozenset()
    pool_statuses: frozenset[str] = frozenset()

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

    @classmethod
    def from_admin_params(cls, params: Mapping[str, str]) -> LicenseQuery:
        """`GET /admin/v1/licenses`: `q`, `type`, `product` and `status` (lists of product
        codes and pool statuses), `sort`, `dir`, `limit` (default 100) and `cursor`."""
        kind = params.get("type") or ""
        if kind and kind not in LICENSE_TYPES:
            raise BadRequest(f"type must be one of {', '.join(LICENSE_TYPES)}", field="type")
        order = parse_order(params, LICENSE_SORTS, default_sort="token")
        return cls(
            search_text(params),
            kind,
            "",
            order,
            products=_listed(params, "product"),
            pool_statuses=_listed(params, "status"),
        )


def _listed(params: Mapping[str, str], name: str) -> frozenset[str]:
    raw = params.get(name) or ""
    if len(raw) > 1024:
        raise BadRequest(f"{name} is longer than 1,024 characters", field=name)
    return frozenset(v.strip() for v in raw.split(",") if v.strip())


def _in_use(state: LicenseState, now: float) -> int:
    """Seats in use for sorting: cheap for the many licenses nobody uses."""
    if not state.sessions and not state.offline:
        return 0
    used = sum(1 for s in state.sessions.values() if s.expires_at > now)
    return used + sum(1 for a in state.offline.values() if a.live(now))


def license_sort_key(sort: str, now: float) -> Callable[[LicenseState], SortKey]:
    """The key function of one sort of the licenses list."""
    if sort == "token":
        return lambda s: (0, s.license.token, s.license.token)
    if sort == "company":
        return lambda s: sort_key(
            s.license.company_name.casefold() if s.license.company_name else None,
            s.license.token,
        )
    if sort == "type":
        return lambda s: (0, s.license.type, s.license.token)
    if sort == "seats":
        return lambda s: (0, s.license.seats, s.license.token)
    if sort == "status":
        return lambda s: (0, condition(s, now), s.license.token)
    if sort == "used":
        return lambda s: (0, _in_use(s, now), s.license.token)
    if sort == "utilisation":
        return lambda s: (0, utilisation(_in_use(s, now), s.license.seats), s.license.token)
    return lambda s: sort_key(s.expires_at(), s.license.token)


def _matching(index: LicenseIndex, query: LicenseQuery, now: float) -> list[int] | None:
    """Positions (in token order) of the licenses `query` keeps; None when it keeps all."""
    positions: list[int] | None = index.search(query.search) if query.search else None
    if query.type:
        typed = index.by_type.get(query.type, [])
        if positions is None:
            positions = typed
        else:
            positions = [n for n in positions if index.states[n].license.type == query.type]
    if query.products:
        listed = sorted({n for code in query.products for n in index.by_product.get(code, [])})
        positions = listed if positions is None else sorted(set(positions) & set(listed))
    if query.pool_statuses:
        kept = sorted({n for st in query.pool_statuses for n in index.by_status.get(st, [])})
        positions = kept if positions is None else sorted(set(positions) & set(kept))
    wanted = query.status
    if wanted:
        if wanted not in _DERIVED and wanted in index.by_status:
            pool_rows = index.by_status[wanted]  # only the pool's own status, e.g. suspended
            among = set(positions) if positions is not None else None
            candidates = [n for n in pool_rows if among is None or n in among]
        else:
            candidates = positions if positions is not None else list(range(len(index.states)))
        states = index.states
        positions = [n for n in candidates if condition(states[n], now) == wanted]
    return positions


class _At(Sequence[LicenseState]):
    """The licenses at some positions of the index, in that order, without a copy."""

    def __init__(self, states: Sequence[LicenseState], positions: Sequence[int]) -> None:
        self._states, self._positions = states, positions

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, at: int) -> LicenseState: ...
    @overload
    def __getitem__(self, at: slice) -> Sequence[LicenseState]: ...
    def __getitem__(self, at: int | slice) -> LicenseState | Sequence[LicenseState]:
        if isinstance(at, slice):
            return [self._states[n] for n in self._positions[at]]
        return self._states[self._positions[at]]


def list_licenses(index: LicenseIndex, query: LicenseQuery, now: float) -> Page[LicenseState]:
    """One page of the licenses matching `query`, in its order."""
    positions = _matching(index, query, now)
    sort, descending = query.order.sort, query.order.descending
    display: Sequence[LicenseState]
    if sort == "token":
        rows = index.states if positions is None else _At(index.states, positions)
        display = Backwards(rows) if descending else rows
    else:
        order = index.display_order(sort, descending, now)
        if positions is not None:
            wanted = set(positions)
            order = tuple(n for n in order if n in wanted)
        display = _At(index.states, order)
    return paginate_display(display, license_sort_key(sort, now), query.order)
