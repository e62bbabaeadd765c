"""The PostgreSQL batch planner: few round trips, and never a reorder that changes the result."""

from __future__ import annotations

from lls.domain.records import AppendEvent, EndSession, Record, SetHeld, SetPeak, StartSession
from lls.sealed.chain import GENESIS_HASH
from lls.store.postgres.plan import END, EVENT, HELD, PEAK, START, plan


def _activate(i: int) -> list[Record]:
    return [
        StartSession(f"s{i}", f"L{i}", "h", 1.0, 2.0),
        AppendEvent(1.0, "session.started", f"L{i}", "h"),
        SetPeak(f"L{i}", 1),
    ]


def test_plan_batch_of_64_activates_makes_three_round_trips() -> None:
    runs, head = plan([_activate(i) for i in range(64)], (0, GENESIS_HASH))
    assert [(r.sql, len(r.rows)) for r in runs] == [(START, 64), (EVENT, 64), (PEAK, 64)]
    assert head[0] == 64


def test_plan_start_after_end_in_one_batch_keeps_their_order() -> None:
    batch: list[list[Record]] = [
        [StartSession("s1", "L", "h", 1.0, 2.0)],
        [EndSession("s1")],
        [StartSession("s2", "L", "h", 1.0, 2.0)],  # same license and authContext as s1
    ]
    runs, _ = plan(batch, (0, GENESIS_HASH))
    assert [r.sql for r in runs] == [START, END, START]


def test_plan_checkout_waits_for_its_session_but_not_for_others() -> None:
    batch: list[list[Record]] = [
        [StartSession("s1", "L1", "h", 1.0, 2.0)],
        [SetHeld("s1", "F", 1)],
        [StartSession("s2", "L2", "h", 1.0, 2.0)],
        [SetHeld("s2", "F", 1)],
    ]
    runs, _ = plan(batch, (0, GENESIS_HASH))
    assert [(r.sql, len(r.rows)) for r in runs] == [(START, 2), (HELD, 2)]


def test_plan_chains_events_in_record_order() -> None:
    runs, head = plan([[AppendEvent(1.0, "a")], [AppendEvent(1.0, "b")]], (7, "f" * 64))
    [events] = runs
    assert [row[0] for row in events.rows] == [8, 9]
    assert events.rows[0][6] == "f" * 64 and events.rows[1][6] == events.rows[0][7]
    assert head == (9, events.rows[1][7])
