"""`lls history TOKEN [--csv]` and the list views following the API's cursor to the end."""

from __future__ import annotations

import json

from lls.cli import views
from tests.cli.conftest import Cli, at
from tests.conftest import ServerFactory
from tests.pools import grant


async def test_history_prints_the_hours_as_a_table_json_and_csv(
    make_server: ServerFactory, cli: Cli
) -> None:
    server = await make_server([grant("LIC-H", seats=2)])
    await server.activate("LIC-H", "pc-1")
    await server.activate("LIC-H", "pc-2")
    await server.call("activate", licenseToken="LIC-H", productCodes=["ACME_PRO"], authContext="x")
    table = await cli("history", "LIC-H", *at(server))
    as_json = await cli("history", "LIC-H", "--json", *at(server))
    as_csv = await cli("history", "LIC-H", "--csv", "--step", "day", "--since", "2d", *at(server))
    header, *hours = table.out.splitlines()
    assert header.split() == ["AT", "PEAK", "STARTED", "DENIED", "DENIALS", "UNITS", "CONSUMED"]
    assert len(hours) == 24 and hours[-1].split()[1:5] == ["2", "2", "1", "SESSION_LIMIT_REACHED=1"]
    assert json.loads(as_json.out)["points"][-1]["denials"] == {"SESSION_LIMIT_REACHED": 1}
    lines = as_csv.out.splitlines()
    assert lines[0] == "at,peak_sessions,sessions_started,denied,denied:SESSION_LIMIT_REACHED"
    assert lines[-1].endswith(",2,2,1,1") and len(lines) == 4  # 2 days ago, yesterday, today


async def test_history_of_an_unknown_license_exits_1(server, cli: Cli) -> None:  # type: ignore[no-untyped-def]
    ran = await cli("history", "NOPE", *at(server))
    assert ran.code == 1 and "no such license" in ran.err


async def test_licenses_and_sessions_follow_the_cursor_to_the_last_page(
    make_server: ServerFactory, cli: Cli, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(views, "PAGE_LIMIT", 3)
    server = await make_server([grant(f"P-{n:02d}", seats=5) for n in range(8)])
    for n in range(5):
        await server.activate("P-01", f"pc-{n}")
    await server.activate("P-02", "pc-0")
    licenses = json.loads((await cli("licenses", "--json", *at(server))).out)
    sessions = json.loads((await cli("sessions", "--json", *at(server))).out)
    assert [lic["token"] for lic in licenses["licenses"]] == [f"P-{n:02d}" for n in range(8)]
    assert len({s["id"] for s in sessions["sessions"]}) == sessions["total"] == 6
