"""The read model behind the dashboard: filters, sorts, keyset cursors, the overview."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from lls.domain.license_index import LicenseIndex, LicenseQuery, license_index, list_licenses
from lls.domain.models import (
    AuditEvent,
    License,
    OfflineActivation,
    Pool,
    Session,
)
from lls.domain.overview import EventFilter, overview, select_events
from lls.domain.pages import MAX_LIMIT, Order, Page, paginate, parse_order, sort_key
from lls.domain.policy_seats import PolicySeats
from lls.domain.state import LicenseState
from lls.domain.views import (
    SessionQuery,
    condition,
    feature_figures,
    license_detail,
    list_offline,
    list_sessions,
)
from lls.errors import BadRequest
from lls.protocol.shapes import FeatureGrant
from tests.domain.license_kit import make_license

NOW = 1_800_000_000.0
DAY = 86_400


def lic(token: str, **fields: Any) -> License:
    return make_license(token, **{"company_name": "Acme Trading", **fields})


def session(n: int, token: str, *, started: float = NOW - 60, live: bool = True) -> Session:
    return Session(f"s{n:04d}", token, f"pc-{n}", started, NOW + 300 if live else NOW - 1)


@dataclass
class State:
    """The attributes of the licensing service the read model reads (the ReadState port)."""

    licenses: dict[str, LicenseState] = field(default_factory=dict)
    by_id: dict[str, Session] = field(default_factory=dict)
    offline_by_id: dict[str, OfflineActivation] = field(default_factory=dict)
    environments: dict[str, str] = field(default_factory=dict)
    pool: Pool | None = None
    pool_imported_at: float | None = None
    floor: float = NOW
    tampered: bool = False
    usage_seq: int = 0
    last_usage_export: float | None = None
    policy: PolicySeats = field(default_factory=PolicySeats)  # no policy in force

    def add(self, license: License) -> LicenseState:
        state = LicenseState(license=license)
        self.licenses[license.token] = state
        return state

    def start(self, n: int, token: str, **kw: Any) -> Session:
        s = session(n, token, **kw)
        self.licenses[token].sessions[s.auth_context] = s
        self.by_id[s.id] = s
        return s


def many(count: int) -> State:
    state = State()
    for i in range(count):
        state.add(
            lic(
                f"LIC-{i:04d}",
                company_name="Globex" if i % 3 == 0 else "Acme Trading",
                type="node-locked" if i % 5 == 0 else "floating",
                product_codes=("CAD",) if i % 7 == 0 else ("PRO",),
            )
        )
    return state


def walk(state: State, query: LicenseQuery) -> list[str]:
    """Every token the pages of `query` show, following next cursors to the end."""
    index = LicenseIndex(state.pool, state.licenses)
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        page = list_licenses(index, replace(query, order=replace(query.order, cursor=cursor)), NOW)
        seen.extend(s.license.token for s in page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError("no end of pages")


def test_license_pages_follow_cursors_through_every_license_once() -> None:
    state = many(250)

    seen = walk(state, LicenseQuery(order=Order("token", limit=40)))

    assert seen == sorted(state.licenses)


def test_license_pages_by_seats_in_use_descending_keep_ties_in_token_order() -> None:
    state = many(30)
    for n, token in enumerate(["LIC-0007", "LIC-0003", "LIC-0003"]):
        state.start(n, token)

    seen = walk(state, LicenseQuery(order=Order("used", descending=True, limit=7)))

    assert seen[:2] == ["LIC-0003", "LIC-0007"] and sorted(seen) == sorted(state.licenses)
    assert seen[2:] == sorted(seen[2:])


def test_license_previous_cursor_returns_the_page_before() -> None:
    index = LicenseIndex(None, many(100).licenses)
    first = list_licenses(index, LicenseQuery(order=Order("company", limit=30)), NOW)
    second = list_licenses(
        index, LicenseQuery(order=Order("company", limit=30, cursor=first.next_cursor)), NOW
    )

    back = list_licenses(
        index, LicenseQuery(order=Order("company", limit=30, cursor=second.prev_cursor)), NOW
    )

    assert back.items == first.items and back.start == 0 and back.prev_cursor is None
    assert second.start == 30 and second.total == 100


def test_a_cursor_survives_rows_added_before_it() -> None:
    state = many(50)
    index = LicenseIndex(None, state.licenses)
    first = list_licenses(index, LicenseQuery(order=Order("token", limit=10)), NOW)
    state.add(lic("LIC-0000a"))  # sorts inside the first page

    second = list_licenses(
        LicenseIndex(None, state.licenses),
        LicenseQuery(order=Order("token", limit=10, cursor=first.next_cursor)),
        NOW,
    )

    assert second.items[0].license.token == "LIC-0010"


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("lic-001", {f"LIC-001{i}" for i in range(10)}),  # token prefix, any case
        ("globex", {f"LIC-{i:04d}" for i in range(0, 30, 3)}),  # company, contained
        ("cad", {f"LIC-{i:04d}" for i in range(0, 30, 7)}),  # product code prefix
    ],
)
def test_license_search_matches_token_company_or_product(search: str, expected: set[str]) -> None:
    index = LicenseIndex(None, many(30).licenses)

    page = list_licenses(index, LicenseQuery(search=search, order=Order("token", limit=100)), NOW)

    assert {s.license.token for s in page.items} == expected and page.total == len(expected)


def test_license_filters_by_type_and_by_condition() -> None:
    state = many(20)
    state.licenses["LIC-0005"].locked_at = NOW - 5
    state.licenses["LIC-0010"].license = lic("LIC-0010", type="node-locked", status="suspended")
    state.licenses["LIC-0015"].license = lic("LIC-0015", type="node-locked", valid_until=NOW - DAY)
    index = LicenseIndex(None, state.licenses)

    def tokens(**kw: Any) -> list[str]:
        page = list_licenses(index, LicenseQuery(type="node-locked", **kw), NOW)
        return [s.license.token for s in page.items]

    assert tokens(status="locked") == ["LIC-0005"]
    assert tokens(status="suspended") == ["LIC-0010"]
    assert tokens(status="expired") == ["LIC-0015"]
    assert tokens(status="active") == ["LIC-0000"]


def test_locked_filter_finds_misuse_locks_beside_licenses_the_pool_locked() -> None:
    state = many(6)
    state.licenses["LIC-0001"].license = lic("LIC-0001", status="locked")
    state.licenses["LIC-0004"].locked_at = NOW - 5

    page = list_licenses(LicenseIndex(None, state.licenses), LicenseQuery(status="locked"), NOW)

    assert [s.license.token for s in page.items] == ["LIC-0001", "LIC-0004"]


def test_condition_names_why_an_active_license_cannot_serve() -> None:
    later = LicenseState(license=lic("A", valid_from=NOW + DAY))
    temporary = LicenseState(license=lic("B", type="temporary", temporary_days=1))
    temporary.first_activated_at = NOW - 2 * DAY

    assert (condition(later, NOW), condition(temporary, NOW)) == ("not-yet-valid", "expired")


def test_query_from_params_refuses_unknown_values_with_their_field() -> None:
    with pytest.raises(BadRequest) as bad_sort:
        LicenseQuery.from_params({"sort": "price"})
    with pytest.raises(BadRequest) as bad_limit:
        LicenseQuery.from_params({"limit": str(MAX_LIMIT + 1)})
    with pytest.raises(BadRequest) as bad_type:
        LicenseQuery.from_params({"type": "perpetual"})

    assert [e.value.field for e in (bad_sort, bad_limit, bad_type)] == ["sort", "limit", "type"]


def test_query_defaults_are_limit_100_by_token() -> None:
    query = LicenseQuery.from_params({})

    assert (query.order.sort, query.order.limit, query.order.descending) == ("token", 100, False)


def _forged(doc: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 !!",
        _forged({"a": 1}),
        _forged(["token", "a", [0, "x"]]),
        _forged(["token", "a", [0, True, "x"]]),
        _forged(["token", "a", [0, 5, "x"]]),  # a number where the sort holds text
        _forged(["seats", "a", [0, 1, "x"]]),  # another sort's cursor
        "A" * 5000,
    ],
)
@pytest.mark.parametrize("descending", [False, True])
def test_a_cursor_this_server_did_not_give_is_400(cursor: str, descending: bool) -> None:
    index = LicenseIndex(None, many(5).licenses)
    order = Order("token", descending=descending, cursor=cursor)

    with pytest.raises(BadRequest) as refused:
        list_licenses(index, LicenseQuery(order=order), NOW)

    assert refused.value.field == "cursor"


def test_a_text_cursor_on_a_numeric_sort_is_400() -> None:
    index = LicenseIndex(None, many(5).licenses)
    cursor = _forged(["seats", "a", [0, "many", "x"]])

    with pytest.raises(BadRequest):
        list_licenses(index, LicenseQuery(order=Order("seats", True, cursor=cursor)), NOW)


def test_paginate_limit_is_capped_at_the_maximum() -> None:
    rows = list(range(MAX_LIMIT + 50))

    page = paginate(rows, lambda n: sort_key(n, str(n)), Order("n", limit=10**9))

    assert len(page.items) == MAX_LIMIT and page.next_cursor is not None


def test_parse_order_reads_direction_and_cursor() -> None:
    order = parse_order(
        {"sort": "b", "dir": "desc", "cursor": "xyz", "limit": "7"}, ("a", "b"), default_sort="a"
    )

    assert order == Order("b", True, 7, "xyz")


def test_license_index_is_kept_for_its_pool_and_rebuilt_for_another() -> None:
    state = many(3)
    index = license_index(state, None)
    kept = license_index(state, index)
    state.add(lic("LIC-NEW"))

    rebuilt = license_index(state, index)

    assert kept is index and rebuilt is not index and len(rebuilt.states) == 4


def test_sessions_list_only_live_ones_filtered_and_newest_first() -> None:
    state = many(3)
    state.start(1, "LIC-0001", started=NOW - 30)
    state.start(2, "LIC-0001", started=NOW - 10)
    state.start(3, "LIC-0002", started=NOW - 20)
    state.start(4, "LIC-0001", live=False)
    query = SessionQuery.from_params({"license": "LIC-0001"}, default_descending=True)

    page = list_sessions(state.by_id.values(), query, NOW)

    assert [s.id for s in page.items] == ["s0002", "s0001"]


def test_sessions_search_matches_auth_context() -> None:
    state = many(2)
    state.start(1, "LIC-0001")
    state.start(22, "LIC-0001")

    page = list_sessions(state.by_id.values(), SessionQuery(search="pc-2"), NOW)

    assert [s.auth_context for s in page.items] == ["pc-22"]


def test_offline_list_shows_live_seats_unless_all_are_asked_for() -> None:
    live = OfflineActivation("a1", "LIC-0001", "van", "kid", {}, "n", NOW - 9, NOW + 9)
    over = OfflineActivation("a2", "LIC-0001", "van2", "kid", {}, "n", NOW - 9, NOW - 1)

    only_live = list_offline([live, over], Order("lease"), NOW, live_only=True)
    every = list_offline([live, over], Order("lease"), NOW, live_only=False)

    assert [a.id for a in only_live.items] == ["a1"]
    assert [a.id for a in every.items] == ["a2", "a1"]


def test_feature_figures_show_floating_held_and_consumption_used() -> None:
    state = LicenseState(
        license=lic(
            "F",
            features=(
                FeatureGrant("PDF", "floating", 4),
                FeatureGrant("CALLS", "consumption", 100),
                FeatureGrant("DARK", "boolean", None),
            ),
        )
    )
    state.in_use["PDF"] = 3
    state.consumed["CALLS"] = 40

    figures = feature_figures(state)

    assert [(f.code, f.used, f.available) for f in figures] == [
        ("PDF", 3, 1),
        ("CALLS", 40, 60),
        ("DARK", 0, None),
    ]


def test_license_detail_counts_seats_and_lists_its_organisations_environments() -> None:
    state = many(2)
    state.start(1, "LIC-0001")
    state.start(2, "LIC-0001", live=False)
    state.environments = {"pc-1": "org-1", "elsewhere": "org-2"}

    detail = license_detail(state, "LIC-0001", NOW)

    assert detail is not None and detail.seats_used == 1
    assert [s.id for s in detail.sessions] == ["s0001"] and detail.environments == ("pc-1",)
    assert license_detail(state, "NOPE", NOW) is None


def test_overview_sums_seats_of_active_licenses_and_ranks_the_busiest() -> None:
    state = many(4)
    state.licenses["LIC-0003"].license = lic("LIC-0003", status="revoked")
    state.start(1, "LIC-0001")
    state.start(2, "LIC-0001")
    state.start(3, "LIC-0002")
    state.offline_by_id["a"] = OfflineActivation(
        "a", "LIC-0000", "van", "k", {}, "n", NOW - 9, NOW + 9
    )
    state.pool = Pool("v", "i", int(NOW - DAY), int(NOW + 10 * DAY), 4, 2, "org-1", "Org", ())

    figures = overview(state, LicenseIndex(state.pool, state.licenses), NOW, top=2)

    assert (figures.seats_total, figures.seats_used, figures.seats_free) == (6, 4, 2)
    assert (figures.live_sessions, figures.offline_seats) == (3, 1)
    assert [b.token for b in figures.busiest] == ["LIC-0001", "LIC-0000"]
    assert (figures.pool_seq, figures.pool_warning, figures.usage_acked_seq) == (4, "soon", 2)


def test_overview_without_a_pool_has_no_pool_figures() -> None:
    state = State()

    figures = overview(state, LicenseIndex(None, state.licenses), NOW)

    assert (figures.pool_seq, figures.pool_warning, figures.seats_total) == (None, None, 0)


def _event(n: int, kind: str, license: str | None = None) -> AuditEvent:
    return AuditEvent(n, NOW, kind, license, None)


def test_event_filter_matches_a_type_or_its_family_and_a_license() -> None:
    events = [
        _event(1, "session.started", "A"),
        _event(2, "session.ended", "B"),
        _event(3, "sessions.other", "A"),
        _event(4, "pool.imported"),
    ]

    family = select_events(events, EventFilter(type="session"))
    of_a = select_events(events, EventFilter(license="A"))

    assert [e.id for e in family] == [2, 1] and [e.id for e in of_a] == [3, 1]


def _walk_back(index: LicenseIndex, order: Order, last: Page[LicenseState]) -> list[str]:
    """Tokens of the pages before `last`, following previous cursors, in display order."""
    pages: list[list[str]] = []
    cursor = last.prev_cursor
    while cursor is not None:
        page = list_licenses(index, LicenseQuery(order=replace(order, cursor=cursor)), NOW)
        pages.insert(0, [s.license.token for s in page.items])
        cursor = page.prev_cursor
    return [token for page in pages for token in page]


@pytest.mark.parametrize("sort", ["token", "company", "seats", "used", "expires"])
@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_pages_forwards_and_back_through_the_same_order(
    sort: str, descending: bool
) -> None:
    state = many(47)
    for n in range(0, 47, 5):
        state.start(n, f"LIC-{n:04d}")
        state.licenses[f"LIC-{n:04d}"].license = lic(
            f"LIC-{n:04d}", seats=n % 4 + 1, valid_until=NOW + n * DAY, company_name=None
        )
    index = LicenseIndex(None, state.licenses)
    order = Order(sort, descending, limit=6)

    forwards = walk(state, LicenseQuery(order=order))
    last = list_licenses(index, LicenseQuery(order=order), NOW)
    while last.next_cursor is not None:
        last = list_licenses(
            index, LicenseQuery(order=replace(order, cursor=last.next_cursor)), NOW
        )
    backwards = _walk_back(index, order, last) + [s.license.token for s in last.items]

    assert len(forwards) == 47 and len(set(forwards)) == 47
    assert backwards == forwards
    if sort == "token":
        assert forwards == sorted(forwards, reverse=descending)


def test_descending_sorts_put_missing_values_last_and_break_ties_by_token() -> None:
    state = many(6)
    state.licenses["LIC-0002"].license = lic("LIC-0002", company_name=None)

    page = list_licenses(
        LicenseIndex(None, state.licenses), LicenseQuery(order=Order("company", True)), NOW
    )

    tokens = [s.license.token for s in page.items]
    assert tokens == ["LIC-0000", "LIC-0003", "LIC-0001", "LIC-0004", "LIC-0005", "LIC-0002"]
