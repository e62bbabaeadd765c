"""The dashboard's pure parts: SVG charts, the session book, token roles, the sign-in throttle."""

from __future__ import annotations

import re

import pytest

from lls.http.ui import charts
from lls.http.ui.auth import (
    MAX_SESSIONS,
    SESSION_MAX_S,
    Role,
    SessionBook,
    SignInThrottle,
    Tokens,
    same_token,
)
from lls.http.ui.render import plain, query, relative


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _fill_width(svg: str) -> float:
    match = re.search(r'class="meter-fill" width="([0-9.]+)"', svg)
    assert match is not None
    return float(match.group(1))


@pytest.mark.parametrize(
    ("used", "total", "width", "level"),
    [(0, 10, 0.0, "ok"), (3, 10, 30.0, "ok"), (8, 10, 80.0, "high"), (12, 10, 100.0, "full")],
)
def test_meter_width_and_level_follow_the_share(
    used: int, total: int, width: float, level: str
) -> None:
    svg = str(charts.meter(used, total))

    assert _fill_width(svg) == width and f"meter-{level}" in svg


def test_meter_tells_its_figures_in_words() -> None:
    svg = str(charts.meter(1, 3, unit="seats in use"))

    assert 'role="img"' in svg and 'aria-label="1 of 3 seats in use (33%)"' in svg


def test_meter_of_a_tiny_share_is_still_visible() -> None:
    assert _fill_width(str(charts.meter(1, 10_000))) == 2.0


def test_ring_dash_lengths_add_up_to_the_circle() -> None:
    svg = str(charts.ring(1, 4, label="Seats"))

    dash = re.search(r'stroke-dasharray="([0-9.]+) ([0-9.]+)"', svg)
    assert dash is not None and float(dash.group(1)) == 25.0 and float(dash.group(2)) == 75.0
    assert ">25%</text>" in svg


def test_charts_escape_the_words_they_are_given() -> None:
    ring = str(charts.ring(0, 1, label='<script>"x"</script>'))
    line = str(charts.line_chart([(0, 1)], title="<b>", x_labels=("<i>", "&")))

    assert "<script>" not in ring and "&lt;script&gt;" in ring
    assert "<b>" not in line and "<i>" not in line and "&amp;" in line


def test_line_chart_steps_through_each_point_and_marks_the_top() -> None:
    svg = str(charts.line_chart([(0, 0), (1, 4), (2, 2)], title="Peak sessions"))

    path = re.search(r'd="([^"]+)"', svg)
    assert path is not None and path.group(1).count("H") == 2 and path.group(1).count("V") == 2
    assert ">4</text>" in svg and "highest 4" in svg


def test_line_chart_without_points_says_so() -> None:
    svg = str(charts.line_chart([], title="Units"))

    assert 'aria-label="Units: no data"' in svg and 'd=""' in svg


def test_tokens_give_each_its_role_and_nothing_else() -> None:
    tokens = Tokens("admin-secret-token", "viewer-secret-token")

    roles = [tokens.role_for(t) for t in ("admin-secret-token", " viewer-secret-token\n", "x", "")]

    assert roles == [Role.ADMIN, Role.VIEWER, None, None]


def test_without_a_viewer_token_nobody_signs_in_as_viewer() -> None:
    tokens = Tokens("admin-secret-token", None)

    assert tokens.role_for("") is None and not tokens.has_viewer


def test_session_ends_after_idle_time_without_a_page_view() -> None:
    clock = Clock()
    book = SessionBook(60, now=clock)
    cookie, _ = book.open(Role.ADMIN)
    clock.t += 50
    book.find(cookie)  # a page view: activity

    clock.t += 50
    still = book.find(cookie, touch=False)  # polling: not activity
    clock.t += 11

    assert still is not None and book.find(cookie) is None and len(book) == 0


def test_session_ends_at_its_maximum_age_however_busy() -> None:
    clock = Clock()
    book = SessionBook(60, now=clock)
    cookie, _ = book.open(Role.VIEWER)
    for _ in range(int(SESSION_MAX_S // 50) + 1):
        clock.t += 50
        book.find(cookie)

    assert book.find(cookie) is None


def test_session_book_drops_the_least_recently_used_when_full() -> None:
    clock = Clock()
    book = SessionBook(3600, now=clock)
    first, _ = book.open(Role.ADMIN)
    for _ in range(MAX_SESSIONS):
        clock.t += 0.001
        book.open(Role.ADMIN)

    assert len(book) == MAX_SESSIONS and book.find(first) is None


def test_session_cookies_are_random_and_each_session_has_its_own_csrf_token() -> None:
    book = SessionBook(60)
    a, sa = book.open(Role.ADMIN)
    b, sb = book.open(Role.ADMIN)

    assert a != b and sa.csrf != sb.csrf and len(a) >= 40
    assert same_token(sa.csrf, sa.csrf) and not same_token(sb.csrf, sa.csrf)
    assert not same_token(None, sa.csrf) and not same_token("", sa.csrf)


def test_throttle_makes_an_address_wait_after_its_limit_and_forgets_old_failures() -> None:
    clock = Clock()
    throttle = SignInThrottle(3, 300, now=clock)
    for _ in range(3):
        throttle.failed("10.0.0.1")
    waiting = throttle.wait_s("10.0.0.1")
    other = throttle.wait_s("10.0.0.2")

    clock.t += 301

    assert 290 <= waiting <= 301 and other == 0 and throttle.wait_s("10.0.0.1") == 0


def test_a_good_sign_in_clears_the_failures_of_its_address() -> None:
    throttle = SignInThrottle(2, 300)
    throttle.failed("a")

    throttle.succeeded("a")
    throttle.failed("a")

    assert throttle.wait_s("a") == 0


def test_query_keeps_other_parameters_and_drops_emptied_ones() -> None:
    built = query({"q": "acme", "cursor": "abc", "type": ""}, sort="used", cursor=None)

    assert built == "?q=acme&sort=used"


def test_relative_time_reads_like_a_person_says_it() -> None:
    words = [relative(1000 + d, 1000) for d in (30, -120, 7200, -3 * 86_400)]

    assert words == ["in 30 s", "2 min ago", "in 2 h", "3 days ago"]


def test_event_data_reads_as_words() -> None:
    assert plain({"returned": {}, "seq": 2}) == "returned none, seq 2"
