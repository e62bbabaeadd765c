"""The history book on its own: hours roll over, today's denials, whole-value records."""

from __future__ import annotations

from collections.abc import Sequence

from lls.domain.history import FLUSH_INTERVAL_S, HOUR_S, ROUND_ROWS, HistoryBook
from lls.domain.history_series import series
from lls.domain.models import License
from lls.domain.records import HourRow, PruneHistory, SaveHistory, StartSession
from lls.domain.state import DAY_S, LicenseState

DAY0 = 1_800_000_000 - 1_800_000_000 % DAY_S  # a UTC midnight


def _state(token: str = "L1") -> LicenseState:
    lic = License(
        token, ("P",), "floating", 5, "active", None, None, False, None, 600, 86400, None,
        None, "org", None, (),
    )  # fmt: skip
    return LicenseState(license=lic)


def _rows(records: Sequence[object]) -> list[HourRow]:
    return [row for r in records if isinstance(r, SaveHistory) for row in r.rows]


def test_records_carry_whole_buckets_and_the_next_hour_starts_from_what_is_held() -> None:
    book, state = HistoryBook(retention_days=2), _state()
    state.sessions = {"a": None, "b": None}  # type: ignore[dict-item]
    book.observe([StartSession("s1", "L1", "a", 0, 1)], {"L1": state}, DAY0 + 10)
    book.denied(state, "SESSION_LIMIT_REACHED", DAY0 + 20)
    first = book.take(DAY0 + 30)
    book.landed(ok=True)
    book.tick({"L1": state}, DAY0 + HOUR_S + 5)  # nobody called: the hour still shows 2
    second = book.take(DAY0 + HOUR_S + 6)
    assert _rows(first) == [
        HourRow("L1", DAY0, 2, 1, {"SESSION_LIMIT_REACHED": 1}),
    ]
    assert PruneHistory(before=DAY0 - 2 * DAY_S) in first
    assert _rows(second) == [HourRow("L1", DAY0 + HOUR_S, 2, 0)]


def test_nothing_goes_out_while_one_record_is_in_flight_unless_forced() -> None:
    book, state = HistoryBook(), _state()
    book.denied(state, "X", DAY0)
    sent = book.take(DAY0)
    book.denied(state, "X", DAY0 + 5)
    assert book.take(DAY0 + 5) == []
    assert _rows(book.take(DAY0 + 5, force=True)) == [HourRow("L1", DAY0, 0, 0, {"X": 2})]
    assert sent


def test_denied_today_adds_the_closed_hours_and_starts_again_at_midnight() -> None:
    book, state = HistoryBook(), _state()
    book.restore([HourRow("L2", DAY0 + HOUR_S, denials={"A": 1})], {"A": 4}, DAY0 + 3 * HOUR_S)
    book.denied(state, "A", DAY0 + 3 * HOUR_S)
    book.denied(state, "B", DAY0 + 4 * HOUR_S)  # a new hour: the 3 o'clock one is closed
    assert book.denied_today(DAY0 + 4 * HOUR_S) == {"A": 6, "B": 1}
    book.denied(state, "B", DAY0 + DAY_S + 1)
    assert book.denied_today(DAY0 + DAY_S + 1) == {"B": 1}


def test_day_series_takes_the_peak_of_its_hours_and_adds_their_counts() -> None:
    rows = [
        HourRow("L1", DAY0 + 1 * HOUR_S, 3, 2, {"A": 1}, {"PDF": 2}, {"CALLS": 5}),
        HourRow("L1", DAY0 + 9 * HOUR_S, 1, 4, {"A": 2}, {"PDF": 4}, {"CALLS": 1}),
    ]
    [day, empty] = series(rows, DAY0, DAY0 + 2 * DAY_S, step="day")
    assert (day.peak_sessions, day.started, day.denied) == (3, 6, 3)
    assert (dict(day.peak_units), dict(day.consumed)) == ({"PDF": 4}, {"CALLS": 6})
    assert (empty.peak_sessions, empty.denied) == (0, 0)


def test_a_round_goes_out_in_batches_of_bounded_size_and_later_changes_wait_for_the_next() -> None:
    """A busy pool changes thousands of buckets between two rounds; one batch carrying them
    all stalled every request committed with it (p99 tripled in bench/run_load.py)."""
    book = HistoryBook()
    states = [_state(f"L{n}") for n in range(ROUND_ROWS * 2 + 200)]
    for state in states:
        book.denied(state, "X", DAY0)
    sizes: list[int] = []
    while rows := _rows(book.take(DAY0 + 1)):
        sizes.append(len(rows))
        book.landed(ok=True)
        book.denied(states[0], "X", DAY0 + 1)  # changed again while the round is written
    assert sizes == [ROUND_ROWS, ROUND_ROWS, 200]
    assert book.take(DAY0 + 2) == []  # the change waits for the next round
    assert _rows(book.take(DAY0 + 1 + FLUSH_INTERVAL_S)) == [HourRow("L0", DAY0, 0, 0, {"X": 4})]
    book.landed(ok=True)
    book.denied(states[1], "X", DAY0 + 20)
    assert _rows(book.take(DAY0 + 20, force=True)) == [HourRow("L1", DAY0, 0, 0, {"X": 2})]
