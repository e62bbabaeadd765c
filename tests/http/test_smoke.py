from __future__ import annotations

from tests.conftest import Server


async def test_activate_free_seat_succeeds(server: Server) -> None:
    data = await server.activate("LIC-ONE", "host-1")
    assert data["authStatus"] == "Success", data
