"""Request-time expiry: a session whose window passed ends when a request meets it, with its
seat and its floating units at once (one `session.ended`, reason `expired`), not at the sweep.

The server's jobs do not run here (no sweep): only requests can end the session.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

WINDOW_S = 10
UNITS = [{"code": "SOLVER", "type": "floating", "count": 3}]


@pytest.fixture
async def short(make_server: ServerFactory) -> Server:
    return await make_server(
        [grant("SHORT", seats=2, sessionWindowSeconds=WINDOW_S, features=UNITS)]
    )


async def _checkout(server: Server, ctx: str, quantity: int) -> Any:
    status, body = await server.call(
        "features/checkout",
        licenseToken="SHORT",
        authContext=ctx,
        featureCode="SOLVER",
        quantity=quantity,
    )
    assert status == 200, body
    return body


async def _ended_events(server: Server) -> list[dict[str, Any]]:
    resp = await server.client.get("/admin/v1/audit?limit=1000", headers=server.admin_headers)
    return [e for e in (await resp.json())["events"] if e["type"] == "session.ended"]


async def _expired_holder(server: Server) -> None:
    """Device A holds all 3 units and is never extended; its window then passes."""
    await server.activate("SHORT", "device-a")
    assert (await _checkout(server, "device-a", 3))["authStatus"] == "Success"
    server.clock.advance(WINDOW_S + 1)


async def test_checkout_after_the_holders_window_passed_gets_its_units_at_once(
    short: Server,
) -> None:
    await _expired_holder(short)
    await short.activate("SHORT", "device-b")
    body = await _checkout(short, "device-b", 3)
    assert (body["authStatus"], body["checkedOut"], body["available"]) == ("Success", 3, 0)
    [ended] = await _ended_events(short)
    assert (ended["authContext"], ended["data"]["reason"]) == ("device-a", "expired")
    assert ended["data"]["returned"] == {"SOLVER": 3}


async def test_validate_after_the_holders_window_passed_reports_the_units_free(
    short: Server,
) -> None:
    await _expired_holder(short)
    status, body = await short.call("validate", licenseToken="SHORT", productCodes=[PRODUCT])
    assert status == 200
    assert [(f["code"], f["available"]) for f in body["features"]] == [("SOLVER", 3)]
    assert [e["authContext"] for e in await _ended_events(short)] == ["device-a"]


async def test_checkout_by_the_expired_session_itself_ends_it_and_frees_its_units(
    short: Server,
) -> None:
    await _expired_holder(short)
    body = await _checkout(short, "device-a", 1)
    state = short.licensing.state.licenses["SHORT"]
    assert (body["reason"], body["available"]) == ("NO_ACTIVE_SESSION", 3)
    assert (state.sessions, state.held, state.in_use) == ({}, {}, {"SOLVER": 0})


async def test_return_by_the_expired_session_itself_ends_it(short: Server) -> None:
    await _expired_holder(short)
    status, body = await short.call(
        "features/return",
        licenseToken="SHORT",
        authContext="device-a",
        featureCode="SOLVER",
        quantity=3,
    )
    assert (status, body["reason"], body["available"]) == (200, "NO_ACTIVE_SESSION", 3)
    assert len(await _ended_events(short)) == 1


async def test_admin_license_view_ends_the_expired_session_and_shows_its_units_free(
    short: Server,
) -> None:
    await _expired_holder(short)
    resp = await short.client.get("/admin/v1/licenses/SHORT", headers=short.admin_headers)
    doc = await resp.json()
    assert (doc["liveSessions"], doc["features"][0]["available"]) == (0, 3)
    assert len(await _ended_events(short)) == 1


async def test_admin_license_list_ends_expired_sessions_once(short: Server) -> None:
    await _expired_holder(short)
    for _ in range(2):
        resp = await short.client.get("/admin/v1/licenses", headers=short.admin_headers)
        [doc] = (await resp.json())["licenses"]
    assert doc["features"][0]["available"] == 3
    assert len(await _ended_events(short)) == 1


async def test_live_holder_keeps_its_units_when_another_device_is_short(short: Server) -> None:
    await short.activate("SHORT", "device-a")
    await _checkout(short, "device-a", 3)
    short.clock.advance(WINDOW_S - 1)
    await short.activate("SHORT", "device-b")
    body = await _checkout(short, "device-b", 1)
    assert (body["reason"], body["available"]) == ("FEATURE_EXHAUSTED", 0)
    assert await _ended_events(short) == []
