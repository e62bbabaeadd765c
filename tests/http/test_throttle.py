"""Throttle only the guessing: unknown tokens from an address get 429 past the limit, while a
valid token from the same address (a NAT gateway, a terminal server) is always answered."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import ServerFactory
from tests.pools import PRODUCT, grant


async def test_valid_token_from_a_throttled_address_still_succeeds(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("LIC-VALID", seats=5)], guess_limit=30)
    statuses = [
        (await server.client.post("/licensing/validate", json={"licenseToken": f"G-{i}"})).status
        for i in range(31)
    ]
    status, body = await server.call(
        "activate", licenseToken="LIC-VALID", productCodes=[PRODUCT], authContext="pc-7"
    )
    again = await server.client.post("/licensing/validate", json={"licenseToken": "G-NEXT"})
    assert statuses == [200] * 30 + [429]
    assert (status, body["authStatus"]) == (200, "Success")
    assert again.status == 429
    assert 1 <= int(again.headers["Retry-After"]) <= 60


async def test_every_client_call_with_a_valid_token_is_answered_past_the_limit(
    make_server: ServerFactory,
) -> None:
    feature = [{"code": "PDF", "type": "floating", "count": 2}]
    server = await make_server([grant("LIC-VALID", seats=5, features=feature)], guess_limit=3)
    for i in range(5):
        await server.client.post("/licensing/validate", json={"licenseToken": f"G-{i}"})
    session = {"licenseToken": "LIC-VALID", "authContext": "pc-1"}
    unit = {**session, "featureCode": "PDF"}
    answers = [
        await server.call("validate", licenseToken="LIC-VALID"),
        await server.call("activate", **session, productCodes=[PRODUCT]),
        await server.call("extend", **session, productCodes=[PRODUCT]),
        await server.call("features/checkout", **unit),
        await server.call("features/return", **unit),
        await server.call("deactivate", **session),
    ]
    assert [status for status, _ in answers] == [200, 200, 200, 200, 200, 204]


async def test_unknown_tokens_on_every_endpoint_count_towards_the_limit(
    make_server: ServerFactory,
) -> None:
    server = await make_server([], guess_limit=4)
    session = {"licenseToken": "G-1", "authContext": "pc-1"}
    calls = [
        ("validate", {"licenseToken": "G-1"}),
        ("activate", {**session, "productCodes": [PRODUCT]}),
        ("deactivate", session),
        ("features/checkout", {**session, "featureCode": "PDF"}),
        ("extend", {**session, "productCodes": [PRODUCT]}),
    ]
    statuses = [
        (await server.client.post(f"/licensing/{name}", json=body)).status for name, body in calls
    ]
    assert statuses == [200, 200, 200, 200, 429]


async def test_an_address_passing_the_limit_is_logged_once_per_window(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server([], guess_limit=3)
    caplog.set_level(logging.WARNING, logger="lls.domain.guard")
    for i in range(10):
        await server.client.post("/licensing/validate", json={"licenseToken": f"G-{i}"})
    lines = [r.getMessage() for r in caplog.records if r.name == "lls.domain.guard"]
    assert len(lines) == 1
    assert lines[0].startswith("127.0.0.1 looked up 3 unknown license tokens")
