"""The usage history on both stores: whole-value buckets, the newest hour at start, pruning."""

from __future__ import annotations

import asyncio
from typing import Any

from lls.domain.records import HourRow, PruneHistory, RecordExport, SaveHistory, SavePool

H = 3600
DAY = 86_400
T0 = 1_800_000_000 - 1_800_000_000 % DAY  # a UTC midnight


def _row(license: str, hour: int, **figures: Any) -> HourRow:
    return HourRow(license, hour, **figures)


async def test_a_bucket_written_again_holds_its_newest_value_not_a_sum(
    backend_store: Any,
) -> None:
    first = _row("L1", T0 + 5 * H, peak_sessions=2, started=3, denials={"X": 1})
    again = _row("L1", T0 + 5 * H, peak_sessions=4, started=7, denials={"X": 2, "Y": 1})
    await asyncio.gather(
        backend_store.commit([SaveHistory((first,))]),
        backend_store.commit([SaveHistory((again,))]),
    )
    assert await backend_store.history("L1", start=T0, end=T0 + DAY) == [again]


async def test_history_reads_one_license_in_a_range_oldest_first(backend_store: Any) -> None:
    rows = tuple(
        _row(lic, T0 + h * H, peak_sessions=h, peak_units={"EXPORT": h}, consumed={"CALLS": 2})
        for h in (3, 1, 2, 9)
        for lic in ("L1", "L2")
    )
    await backend_store.commit([SaveHistory(rows)])
    got = await backend_store.history("L1", start=T0 + 1 * H, end=T0 + 9 * H)
    assert [(r.hour - T0) // H for r in got] == [1, 2, 3]
    assert got[0] == _row(
        "L1", T0 + H, peak_sessions=1, peak_units={"EXPORT": 1}, consumed={"CALLS": 2}
    )


async def test_snapshot_has_the_newest_hour_and_the_denials_of_its_day_before_it(
    backend_store: Any,
) -> None:
    await backend_store.commit(
        [
            SaveHistory(
                (
                    _row("L1", T0 - H, denials={"A": 100}),  # yesterday: not counted
                    _row("L1", T0 + H, denials={"A": 1}),
                    _row("L2", T0 + 2 * H, denials={"A": 2, "B": 3}),
                    _row("L1", T0 + 3 * H, peak_sessions=5, denials={"B": 1}),
                    _row("L2", T0 + 3 * H, started=2),
                )
            )
        ]
    )
    snap = await backend_store.snapshot()
    assert sorted(snap.history, key=lambda r: r.license) == [
        _row("L1", T0 + 3 * H, peak_sessions=5, denials={"B": 1}),
        _row("L2", T0 + 3 * H, started=2),
    ]
    assert snap.history_denied == {"A": 3, "B": 3}


async def test_pruning_drops_only_hours_before_the_retention(backend_store: Any) -> None:
    rows = tuple(_row("L1", T0 + d * DAY, started=1) for d in range(5))
    await backend_store.commit([SaveHistory(rows)])
    await backend_store.commit([PruneHistory(before=T0 + 3 * DAY)])
    got = await backend_store.history("L1", start=0, end=T0 + 10 * DAY)
    assert [r.hour for r in got] == [T0 + 3 * DAY, T0 + 4 * DAY]


async def test_pool_imports_and_usage_files_are_listed_newest_first(backend_store: Any) -> None:
    await backend_store.commit([SavePool(1, 10, 20, "org", 0, 11.0, "RAW1")])
    await backend_store.commit([SavePool(2, 30, 40, "org", 1, 31.0, "RAW2")])
    await backend_store.commit([RecordExport(1, 5, None, 12.0), RecordExport(2, 9, None, 13.0)])
    pools = await backend_store.pool_imports(limit=10)
    files = await backend_store.usage_files(limit=1)
    assert [(p.seq, p.issued_at, p.ack_usage_seq, p.imported_at) for p in pools] == [
        (2, 30.0, 1, 31.0),
        (1, 10.0, 0, 11.0),
    ]
    assert [(f.seq, f.last_event_id, f.created_at) for f in files] == [(2, 9, 13.0)]
