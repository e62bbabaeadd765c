"""The trusted-time floor (sync-format §5) with a hand-moved clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL (the store contract, end to end)."""
    return both_backends


async def _status(server: Server) -> dict[str, Any]:
    resp = await server.client.get("/admin/v1/status", headers=server.admin_headers)
    doc: dict[str, Any] = await resp.json()
    return doc


async def test_rollback_refuses_activate_extend_checkout_and_records_one_event(
    server: Server,
) -> None:
    await server.activate("LIC-THREE", "h1")
    server.clock.advance(-3600)
    assert (await server.activate("LIC-THREE", "h2"))["reason"] == "CLOCK_TAMPERED"
    _, ext = await server.call(
        "extend", licenseToken="LIC-THREE", productCodes=[PRODUCT], authContext="h1"
    )
    assert ext["reason"] == "CLOCK_TAMPERED"
    _, chk = await server.call(
        "features/checkout", licenseToken="LIC-THREE", authContext="h1", featureCode="X"
    )
    assert chk["reason"] == "CLOCK_TAMPERED"
    status = await _status(server)
    assert status["clock"] == {"tampered": True, "floor": status["clock"]["floor"]}
    assert (await server.client.get("/readyz")).status == 503
    events = await server.licensing.store.audit(after=0, limit=100)
    assert [e.type for e in events].count("clock.tampered") == 1


async def test_clock_back_above_floor_recovers(server: Server) -> None:
    await server.activate("LIC-THREE", "h1")
    server.clock.advance(-3600)
    assert (await server.activate("LIC-THREE", "h2"))["reason"] == "CLOCK_TAMPERED"
    server.clock.advance(3601)
    assert (await server.activate("LIC-THREE", "h2"))["authStatus"] == "Success"
    assert (await _status(server))["clock"]["tampered"] is False


async def test_small_step_back_within_five_minutes_is_not_tampering(server: Server) -> None:
    await server.activate("LIC-THREE", "h1")
    server.clock.advance(-299)
    assert (await server.activate("LIC-THREE", "h2"))["authStatus"] == "Success"


async def test_forward_jump_is_not_tampering(server: Server) -> None:
    server.clock.advance(30 * 86_400)
    assert (await server.activate("LIC-THREE", "h1"))["authStatus"] == "Success"


async def test_rollback_is_detected_across_restart(
    server: Server, make_server: ServerFactory
) -> None:
    server.clock.advance(7200)
    await server.activate("LIC-THREE", "h1")
    await server.client.close()  # clean stop persists the floor
    server.clock.advance(-7200)
    client = (await make_server()).client  # the same data directory or database
    resp = await client.post(
        "/licensing/activate",
        json={"licenseToken": "LIC-THREE", "productCodes": [PRODUCT], "authContext": "h2"},
    )
    assert (await resp.json())["reason"] == "CLOCK_TAMPERED"


async def test_pool_iat_raises_the_floor(server: Server) -> None:
    await server.import_pool([], iat=server.clock.now() + 250)
    assert server.licensing.state.floor >= server.clock.now() + 250
