"""Options are accepted before or after an action (`lls sessions --data-dir D end ID`)."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli, at
from tests.conftest import Server


async def test_sessions_end_with_options_before_the_action_ends_the_session(
    server: Server, cli: Cli
) -> None:
    body = await server.activate("LIC-THREE", "pc-1")
    sid = server.licensing.reads.live_sessions()[0].id
    assert body["authStatus"] == "Success"
    ran = await cli("sessions", *at(server), "end", sid)
    assert (ran.code, ran.out.strip()) == (0, f"ended session {sid}")
    assert server.licensing.reads.live_sessions() == []


async def test_sessions_end_with_options_after_the_action_ends_the_session(
    server: Server, cli: Cli
) -> None:
    await server.activate("LIC-THREE", "pc-1")
    sid = server.licensing.reads.live_sessions()[0].id
    ran = await cli("sessions", "end", sid, *at(server))
    assert ran.code == 0 and server.licensing.reads.live_sessions() == []


async def test_options_before_the_command_are_kept(server: Server, cli: Cli) -> None:
    ran = await cli(*at(server), "licenses", "--json")
    assert ran.code == 0 and '"LIC-THREE"' in ran.out


@pytest.mark.parametrize("order", ["before", "after"])
async def test_licenses_show_accepts_options_and_json_on_either_side(
    server: Server, cli: Cli, order: str
) -> None:
    args = (
        ["licenses", *at(server), "--json", "show", "LIC-ONE"]
        if order == "before"
        else ["licenses", "show", "LIC-ONE", *at(server), "--json"]
    )
    ran = await cli(*args)
    assert ran.code == 0 and '"token": "LIC-ONE"' in ran.out


async def test_environments_release_with_options_before_the_action(
    server: Server, cli: Cli
) -> None:
    await server.activate("LIC-THREE", "pc-9")
    ran = await cli("environments", *at(server), "release", "pc-9")
    assert ran.code == 0 and "environment pc-9 released" in ran.out
