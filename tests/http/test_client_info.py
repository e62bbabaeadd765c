"""Who holds a seat: a session records the client's address and the optional `clientInfo`
(LLS extension: hostname, user, application, version) the client sent with activate/extend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

INFO = {"hostname": "cad-ws-17", "user": "jdoe", "application": "AcmeCAD", "version": "5.2.1"}
NOTHING = {"hostname": None, "user": None, "application": None, "version": None}


def body(ctx: str = "pc-1", **more: Any) -> dict[str, Any]:
    return {"licenseToken": "LIC-THREE", "productCodes": [PRODUCT], "authContext": ctx, **more}


async def sessions(server: Server) -> list[dict[str, Any]]:
    resp = await server.client.get("/admin/v1/sessions", headers=server.admin_headers)
    assert resp.status == 200
    return list((await resp.json())["sessions"])


async def test_activate_with_client_info_shows_who_holds_the_seat(server: Server) -> None:
    status, answer = await server.call("activate", **body(clientInfo=INFO))
    [doc] = await sessions(server)
    assert (status, answer["authStatus"]) == (200, "Success")
    assert (doc["clientAddress"], doc["clientInfo"]) == ("127.0.0.1", INFO)


async def test_an_old_client_that_sends_nothing_still_works_and_is_shown_by_address(
    server: Server,
) -> None:
    status, answer = await server.call("activate", **body())
    [doc] = await sessions(server)
    assert (status, answer["authStatus"]) == (200, "Success")
    assert (doc["clientAddress"], doc["clientInfo"]) == ("127.0.0.1", NOTHING)


async def test_partial_client_info_and_unknown_members_are_accepted(server: Server) -> None:
    await server.call("activate", **body(clientInfo={"hostname": "ws-2", "display": ":0"}))
    [doc] = await sessions(server)
    assert doc["clientInfo"] == {**NOTHING, "hostname": "ws-2"}


@pytest.mark.parametrize(
    ("info", "field"),
    [
        ({"hostname": 17}, "clientInfo.hostname"),
        ({"user": ["jdoe"]}, "clientInfo.user"),
        ({"application": "x" * 129}, "clientInfo.application"),
        ({"version": {"major": 5}}, "clientInfo.version"),
        ("cad-ws-17", "clientInfo"),
    ],
)
async def test_bad_client_info_is_a_400_naming_the_field_and_starts_nothing(
    server: Server, info: Any, field: str
) -> None:
    resp = await server.client.post("/licensing/activate", json=body(clientInfo=info))
    error = await resp.json()
    assert (resp.status, error["code"], error["field"]) == (400, "VALIDATION_ERROR", field)
    assert await sessions(server) == []


async def test_client_info_and_address_survive_a_restart(make_server: ServerFactory) -> None:
    first = await make_server([grant("LIC-THREE", seats=3)])
    await first.call("activate", **body(clientInfo=INFO))
    second = await make_server()
    [doc] = await sessions(second)
    assert (doc["clientAddress"], doc["clientInfo"]) == ("127.0.0.1", INFO)


async def test_extend_with_new_client_info_updates_the_holder(make_server: ServerFactory) -> None:
    first = await make_server([grant("LIC-THREE", seats=3)])
    await first.call("activate", **body())  # an old client started the session
    status, answer = await first.call("extend", **body(clientInfo=INFO))
    assert (status, answer["authStatus"]) == (200, "Success")
    [doc] = await sessions(first)
    assert doc["clientInfo"] == INFO
    second = await make_server()  # and it was written, not only held in memory
    [doc] = await sessions(second)
    assert doc["clientInfo"] == INFO


async def test_validate_and_deactivate_ignore_client_info(server: Server) -> None:
    await server.call("activate", **body(clientInfo=INFO))
    checked = await server.call("validate", licenseToken="LIC-THREE", clientInfo={"user": 1})
    ended = await server.call(
        "deactivate", licenseToken="LIC-THREE", authContext="pc-1", clientInfo="x"
    )
    assert (checked[0], checked[1]["authStatus"], ended[0]) == (200, "Success", 204)
    assert await sessions(server) == []
