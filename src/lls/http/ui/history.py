"""The license page's history: charts over 24 h / 7 d / 90 d and the CSV download."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web
from markupsafe import Markup

from lls.domain.history_series import RANGES, HistoryQuery, Point
from lls.domain.models import License
from lls.domain.service import Licensing
from lls.errors import BadRequest
from lls.http.history_api import csv_response, history_csv
from lls.http.keys import LICENSING
from lls.http.ui import charts
from lls.http.ui.auth import UISession
from lls.http.ui.render import utc

DEFAULT_RANGE = "24h"
RANGE_WORDS = {"24h": "24 hours", "7d": "7 days", "90d": "90 days"}


@dataclass(frozen=True, slots=True)
class HistoryView:
    """What the license page shows of the history over one range."""

    range: str
    ranges: Mapping[str, str]
    sessions_chart: Markup
    unit_charts: tuple[tuple[str, int | None, Markup], ...]  # (feature, units granted, chart)
    denied_chart: Markup
    denials: tuple[tuple[str, int], ...]  # reason, refusals over the range (most first)
    peak_sessions: int
    started: int
    consumed: tuple[tuple[str, int], ...]


def range_of(params: Mapping[str, str]) -> str:
    chosen = params.get("range") or DEFAULT_RANGE
    if chosen not in RANGES:
        raise BadRequest("range must be 24h, 7d or 90d", field="range")
    return chosen


def _query(chosen: str, now: float) -> HistoryQuery:
    step, count = RANGES[chosen]
    return HistoryQuery.last(step, count, now)


def build_view(chosen: str, points: Sequence[Point], lic: License) -> HistoryView:
    """The charts and totals of `points` (hour steps) for the license page."""
    words = RANGE_WORDS[chosen]
    edges = (utc(points[0].at), utc(points[-1].at + 3600)) if points else ("", "")
    floating = [f for f in lic.features if f.type == "floating"]
    unit_charts = tuple(
        (
            f.code,
            f.count,
            charts.line_chart(
                [(p.at, p.peak_units.get(f.code, 0)) for p in points],
                title=f"Peak units of {f.code} in use per hour, last {words}",
                x_labels=edges,
                ceiling=f.count,
            ),
        )
        for f in floating
    )
    denials: dict[str, int] = {}
    consumed: dict[str, int] = {}
    for p in points:
        for reason, n in p.denials.items():
            denials[reason] = denials.get(reason, 0) + n
        for code, n in p.consumed.items():
            consumed[code] = consumed.get(code, 0) + n
    return HistoryView(
        range=chosen,
        ranges=RANGE_WORDS,
        sessions_chart=charts.line_chart(
            [(p.at, p.peak_sessions) for p in points],
            title=f"Peak concurrent sessions per hour, last {words}",
            x_labels=edges,
            ceiling=lic.seats,
        ),
        unit_charts=unit_charts,
        denied_chart=charts.line_chart(
            [(p.at, p.denied) for p in points],
            title=f"Denied calls per hour, last {words}",
            x_labels=edges,
        ),
        denials=tuple(sorted(denials.items(), key=lambda kv: (-kv[1], kv[0]))),
        peak_sessions=max((p.peak_sessions for p in points), default=0),
        started=sum(p.started for p in points),
        consumed=tuple(sorted(consumed.items())),
    )


async def history_view(
    licensing: Licensing, lic: License, params: Mapping[str, str], now: float
) -> HistoryView:
    chosen = range_of(params)
    points = await licensing.reads.license_history(lic.token, _query(chosen, now))
    return build_view(chosen, points, lic)


async def history_csv_page(request: web.Request, session: UISession) -> web.StreamResponse:
    """The license's history over the chosen range as CSV (the admin API's CSV)."""
    licensing: Licensing = request.config_dict[LICENSING]
    chosen = range_of(request.query)
    query = _query(chosen, licensing.now())
    points = await licensing.reads.license_history(request.match_info["token"], query)
    return csv_response(history_csv(points), f"history-{chosen}.csv")
