"""A license's history as the admin reads it: dense series of hours or days, and the range
asked for (`from`, `to`, `step`), both from the buckets `lls.domain.history` keeps."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from lls.clock import parse_rfc3339
from lls.domain.history import HOUR_S, add_counts
from lls.domain.records import HourRow
from lls.domain.state import DAY_S
from lls.errors import BadRequest


@dataclass(frozen=True, slots=True)
class Point:
    """One step of a license's history as the admin reads it (an hour or a day)."""

    at: int
    peak_sessions: int
    started: int
    denials: Mapping[str, int]
    peak_units: Mapping[str, int]
    consumed: Mapping[str, int]

    @property
    def denied(self) -> int:
        return sum(self.denials.values())


def series(rows: Iterable[HourRow], start: int, end: int, *, step: str = "hour") -> list[Point]:
    """A dense series of points from `start` to `end` (hour or day starts, end excluded):
    peaks are the largest of the hours in a step, counts their sum; a step without a row
    is all zeros. Rows given later win over earlier rows of the same hour (memory over
    the database)."""
    width = DAY_S if step == "day" else HOUR_S
    by_hour: dict[int, HourRow] = {}
    for row in rows:
        if start <= row.hour < end:
            by_hour[row.hour] = row
    steps: dict[int, list[HourRow]] = {}
    for hour, row in by_hour.items():
        steps.setdefault(hour - hour % width, []).append(row)
    points = []
    for at in range(start - start % width, end, width):
        found = steps.get(at)
        if not found:
            points.append(Point(at, 0, 0, _NONE, _NONE, _NONE))
        elif len(found) == 1:  # every hour step, and a day with one busy hour
            r = found[0]
            points.append(
                Point(at, r.peak_sessions, r.started, r.denials, r.peak_units, r.consumed)
            )
        else:
            points.append(_merged(at, found))
    return points


_NONE: Mapping[str, int] = MappingProxyType({})


def _merged(at: int, found: Sequence[HourRow]) -> Point:
    denials: dict[str, int] = {}
    consumed: dict[str, int] = {}
    units: dict[str, int] = {}
    for row in found:
        add_counts(denials, row.denials)
        add_counts(consumed, row.consumed)
        for code, n in row.peak_units.items():
            units[code] = max(units.get(code, 0), n)
    return Point(
        at=at,
        peak_sessions=max(r.peak_sessions for r in found),
        started=sum(r.started for r in found),
        denials=denials,
        peak_units=units,
        consumed=consumed,
    )


STEPS = {"hour": HOUR_S, "day": DAY_S}
DEFAULT_SPAN = {"hour": 24, "day": 30}  # steps shown when `from` is not given
MAX_POINTS = 10_000  # 400 days of hours fit; a longer range asks for days
RANGES = {"24h": ("hour", 24), "7d": ("hour", 7 * 24), "90d": ("hour", 90 * 24)}


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """A range of a license's history: [start, end) in whole steps of an hour or a day."""

    start: int
    end: int
    step: str = "hour"

    @property
    def points(self) -> int:
        return (self.end - self.start) // STEPS[self.step]

    @classmethod
    def last(cls, step: str, count: int, now: float) -> HistoryQuery:
        """The `count` steps up to and including the current one."""
        width = STEPS[step]
        end = int(now // width) * width + width
        return cls(end - count * width, end, step)

    @classmethod
    def from_params(cls, params: Mapping[str, str], now: float) -> HistoryQuery:
        """`step` (hour | day), `from` and `to` (RFC 3339; to defaults to now, from to the
        24 hours or 30 days before it); both are widened to whole steps."""
        step = params.get("step") or "hour"
        if step not in STEPS:
            raise BadRequest("step must be hour or day", field="step")
        width = STEPS[step]
        if "to" in params:
            end = math.ceil(_time(params, "to", now) / width) * width
        else:
            end = int(now // width) * width + width  # up to the current step, still open
        raw_from = params.get("from")
        start = (
            end - DEFAULT_SPAN[step] * width
            if raw_from is None
            else int(_time(params, "from", now) // width) * width
        )
        if start >= end:
            raise BadRequest("from must be before to", field="from")
        if (end - start) // width > MAX_POINTS:
            raise BadRequest(
                f"the range holds more than {MAX_POINTS:,} {step}s; ask for a shorter one"
                + (" or step=day" if step == "hour" else ""),
                field="from",
            )
        return cls(start, end, step)


def _time(params: Mapping[str, str], name: str, default: float) -> float:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = parse_rfc3339(raw) if len(raw) <= 64 else None
    except (ValueError, OverflowError):
        value = None
    if value is None or not 0 <= value < 1e11:
        raise BadRequest(
            f"{name} must be an RFC 3339 time such as 2026-12-01T00:00:00Z", field=name
        )
    return value
