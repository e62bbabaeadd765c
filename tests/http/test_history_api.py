"""GET /admin/v1/licenses/{token}/history: usage per hour and day, JSON and CSV, across restarts."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lls.clock import FakeClock, rfc3339
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

H = 3600
START = int(time.time()) // H * H - 5 * H + 600  # ten minutes into an hour, in the past
FEATURES = [
    {"code": "EXPORT", "type": "floating", "count": 5},
    {"code": "CALLS", "type": "consumption", "count": 100},
]
LICENSES = [grant("LIC-ONE", seats=1), grant("LIC-BIG", seats=5, features=FEATURES)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=float(START))


async def _history(server: Server, token: str, **params: str) -> Any:
    resp = await server.client.get(
        f"/admin/v1/licenses/{token}/history", params=params, headers=server.admin_headers
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _feature(server: Server, call: str, ctx: str, code: str, quantity: int) -> None:
    status, body = await server.call(
        f"features/{call}",
        licenseToken="LIC-BIG",
        authContext=ctx,
        featureCode=code,
        quantity=quantity,
    )
    assert (status, body["authStatus"]) == (200, "Success"), body


async def test_hour_shows_peak_sessions_started_units_consumption_and_denials(
    make_server: ServerFactory,
) -> None:
    server = await make_server(LICENSES)
    for ctx in ("a", "b", "c"):
        await server.activate("LIC-BIG", ctx)
    await server.call("deactivate", licenseToken="LIC-BIG", authContext="c")
    await server.activate("LIC-BIG", "d")  # 3 at once at most, 4 started
    await _feature(server, "checkout", "a", "EXPORT", 3)
    await _feature(server, "return", "a", "EXPORT", 3)
    await _feature(server, "checkout", "b", "EXPORT", 2)
    await _feature(server, "checkout", "b", "CALLS", 7)
    await server.activate("LIC-ONE", "x")
    for ctx in ("y", "z"):
        await server.call(
            "activate", licenseToken="LIC-ONE", productCodes=[PRODUCT], authContext=ctx
        )
    big, one = await _history(server, "LIC-BIG"), await _history(server, "LIC-ONE")
    assert len(big["points"]) == 24 and big["step"] == "hour"
    assert big["points"][-1] == {
        "at": rfc3339(START - 600),
        "peakSessions": 3,
        "sessionsStarted": 4,
        "denied": 0,
        "denials": {},
        "peakUnits": {"EXPORT": 3},
        "consumed": {"CALLS": 7},
    }
    assert one["points"][-1]["denials"] == {"SESSION_LIMIT_REACHED": 2}
    assert [p["sessionsStarted"] for p in big["points"][:-1]] == [0] * 23


async def test_a_restart_keeps_the_open_hour_and_counts_nothing_twice(
    make_server: ServerFactory,
) -> None:
    first = await make_server(LICENSES)
    await first.activate("LIC-BIG", "a")
    await first.activate("LIC-BIG", "b")
    await first.client.close()  # a clean stop writes what the hour holds
    second = await make_server()
    await second.activate("LIC-BIG", "c")
    [point] = (await _history(second, "LIC-BIG"))["points"][-1:]
    assert (point["sessionsStarted"], point["peakSessions"]) == (3, 3)


async def test_a_new_hour_starts_from_the_sessions_still_held(server_big: Server) -> None:
    server = server_big
    await server.activate("LIC-BIG", "a")
    await server.activate("LIC-BIG", "b")
    server.clock.advance(H)
    await server.licensing.upkeep.flush_history()  # the sweep job's call
    server.clock.advance(H)
    await server.licensing.upkeep.flush_history()
    points = (await _history(server, "LIC-BIG"))["points"][-3:]
    assert [(p["peakSessions"], p["sessionsStarted"]) for p in points] == [(2, 2), (2, 0), (2, 0)]


async def test_day_step_takes_the_peak_and_adds_up_the_counts(server_big: Server) -> None:
    server = server_big
    await server.activate("LIC-BIG", "a")
    server.clock.advance(H)
    await server.activate("LIC-BIG", "b")
    await server.activate("LIC-BIG", "c")
    await server.call("deactivate", licenseToken="LIC-BIG", authContext="a")
    day = await _history(server, "LIC-BIG", step="day")
    assert len(day["points"]) == 30
    totals = [(p["peakSessions"], p["sessionsStarted"]) for p in day["points"] if p["peakSessions"]]
    assert sum(s for _, s in totals) == 3 and max(p for p, _ in totals) == 3


async def test_csv_has_a_column_per_figure(server_big: Server) -> None:
    server = server_big
    await server.activate("LIC-BIG", "a")
    await _feature(server, "checkout", "a", "CALLS", 2)
    resp = await server.client.get(
        "/admin/v1/licenses/LIC-BIG/history",
        headers={**server.admin_headers, "Accept": "text/csv"},
    )
    assert resp.headers["Content-Type"].startswith("text/csv")
    lines = (await resp.text()).splitlines()
    assert lines[0] == "at,peak_sessions,sessions_started,denied,consumed:CALLS"
    assert lines[-1] == f"{rfc3339(START - 600)},1,1,0,2" and len(lines) == 25


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"step": "week"}, "step"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"from": "2026-12-02T00:00:00"}, "from"),  # no time zone
        ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "from"),
        ({"from": "2000-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ({"from": "9" * 100}, "from"),
        ({"from": "+999999-01-01T00:00:00Z"}, "from"),
    ],
)
async def test_bad_range_is_400_with_the_field(
    server_big: Server, params: dict[str, str], field: str
) -> None:
    resp = await server_big.client.get(
        "/admin/v1/licenses/LIC-BIG/history", params=params, headers=server_big.admin_headers
    )
    problem = await resp.json()
    assert (resp.status, problem["code"], problem["field"]) == (400, "VALIDATION_ERROR", field)


async def test_unknown_license_is_404_and_the_token_is_needed(server_big: Server) -> None:
    resp = await server_big.client.get(
        "/admin/v1/licenses/NOPE/history", headers=server_big.admin_headers
    )
    bare = await server_big.client.get("/admin/v1/licenses/LIC-BIG/history")
    assert (resp.status, bare.status) == (404, 401)


@pytest.fixture
async def server_big(make_server: ServerFactory) -> Server:
    return await make_server(LICENSES)
