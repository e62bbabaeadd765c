"""`GET /admin/v1/licenses/{token}/history`: a license's usage per hour or day, JSON or CSV.

The same series the dashboard's license page draws; `Accept: text/csv` answers it as a
table with one column per figure (denials by reason, units and consumption by feature).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from lls.clock import rfc3339
from lls.domain.history_series import HistoryQuery, Point
from lls.http.answers import json_answer
from lls.http.keys import LICENSING
from lls.http.routes import add_route

CSV_TYPE = "text/csv; charset=utf-8"


def add_routes(app: web.Application) -> None:
    add_route(app, "GET", "/admin/v1/licenses/{token}/history", history)


def point_doc(point: Point) -> dict[str, Any]:
    return {
        "at": rfc3339(point.at),
        "peakSessions": point.peak_sessions,
        "sessionsStarted": point.started,
        "denied": point.denied,
        "denials": dict(point.denials),
        "peakUnits": dict(point.peak_units),
        "consumed": dict(point.consumed),
    }


def history_csv(points: Sequence[Point]) -> str:
    """The series as CSV: fixed columns, then one per reason and per feature that occurs."""
    reasons = sorted({r for p in points for r in p.denials})
    units = sorted({c for p in points for c in p.peak_units})
    consumed = sorted({c for p in points for c in p.consumed})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "at",
            "peak_sessions",
            "sessions_started",
            "denied",
            *(f"peak_units:{c}" for c in units),
            *(f"consumed:{c}" for c in consumed),
            *(f"denied:{r}" for r in reasons),
        ]
    )
    for p in points:
        writer.writerow(
            [
                rfc3339(p.at),
                p.peak_sessions,
                p.started,
                p.denied,
                *(p.peak_units.get(c, 0) for c in units),
                *(p.consumed.get(c, 0) for c in consumed),
                *(p.denials.get(r, 0) for r in reasons),
            ]
        )
    return out.getvalue()


def wants_csv(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


def csv_response(text: str, filename: str) -> web.Response:
    return web.Response(
        body=text.encode(),
        headers={
            "Content-Type": CSV_TYPE,
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


async def history(request: web.Request) -> web.Response:
    """`from`, `to` (RFC 3339), `step` (hour | day); JSON, or CSV for `Accept: text/csv`."""
    licensing = request.app[LICENSING]
    token = request.match_info["token"]
    query = HistoryQuery.from_params(request.query, licensing.now())
    points = await licensing.reads.license_history(token, query)
    if wants_csv(request):
        return csv_response(history_csv(points), f"history-{query.step}.csv")
    doc = {
        "licenseToken": token,
        "step": query.step,
        "from": rfc3339(query.start),
        "to": rfc3339(query.end),
        "points": [point_doc(p) for p in points],
    }
    return json_answer(doc)
