"""Bad input to the client API: 400/413/415 in the online API's error shape, nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT

GOOD = {"licenseToken": "LIC-ONE", "productCodes": [PRODUCT], "authContext": "h1"}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "licenseToken", "license token field is required."),
        ({**GOOD, "licenseToken": None}, "licenseToken", "license token field is required."),
        ({**GOOD, "licenseToken": 7}, "licenseToken", None),
        ({**GOOD, "licenseToken": ""}, "licenseToken", None),
        ({**GOOD, "licenseToken": "x" * 129}, "licenseToken", None),
        ({**GOOD, "authContext": ["h1"]}, "authContext", None),  # missing: the caller's ip:
        ({**GOOD, "authContext": ""}, "authContext", None),
        ({**GOOD, "authContext": "a" * 257}, "authContext", None),
        ({**GOOD, "productCodes": []}, "productCodes", None),
        ({**GOOD, "productCodes": "ACME_PRO"}, "productCodes", None),
        ({**GOOD, "productCodes": ["P"] * 33}, "productCodes", None),
        ({**GOOD, "productCodes": ["P" * 65]}, "productCodes", None),
        ({**GOOD, "productCodes": [1]}, "productCodes", None),
    ],
)
async def test_activate_bad_field_gives_400_naming_it_and_changes_nothing(
    server: Server, body: dict[str, object], field: str, message: str | None
) -> None:
    resp = await server.client.post("/licensing/activate", json=body)
    assert resp.status == 400
    doc = await resp.json()
    assert set(doc) == {"error", "code", "field"}
    assert (doc["code"], doc["field"]) == ("VALIDATION_ERROR", field)
    if message is not None:
        assert doc["error"] == message
    assert server.licensing.reads.live_sessions() == []


async def test_unknown_fields_are_ignored(server: Server) -> None:
    resp = await server.client.post("/licensing/activate", json={**GOOD, "extra": {"x": 1}})
    assert (await resp.json())["authStatus"] == "Success"


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"string"', b"\xff\xfe"])
async def test_malformed_json_gives_400_in_error_shape(server: Server, raw: bytes) -> None:
    resp = await server.client.post(
        "/licensing/activate", data=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    doc = await resp.json()
    assert doc["code"] in {"INVALID_JSON", "VALIDATION_ERROR"}
    assert doc["error"]
    assert server.licensing.reads.live_sessions() == []


async def test_body_over_16k_gives_413(server: Server) -> None:
    body = {**GOOD, "padding": "x" * 17000}
    resp = await server.client.post("/licensing/activate", json=body)
    assert resp.status == 413
    assert (await resp.json())["code"] == "PAYLOAD_TOO_LARGE"
    assert server.licensing.reads.live_sessions() == []


async def test_chunked_body_over_16k_gives_413(server: Server) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"licenseToken": "LIC-ONE", "pad": "'
        for _ in range(20):
            yield b"x" * 1024
        yield b'"}'

    resp = await server.client.post(
        "/licensing/activate", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_non_json_content_type_gives_415(server: Server, content_type: str) -> None:
    resp = await server.client.post(
        "/licensing/activate",
        data=b'{"licenseToken": "LIC-ONE"}',
        headers={"Content-Type": content_type},
    )
    assert resp.status == 415
    assert (await resp.json())["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_feature_style_quantity_fields_do_not_leak_into_session_calls(server: Server) -> None:
    resp = await server.client.post("/licensing/validate", json={"licenseToken": "LIC-ONE"})
    assert resp.status == 200


async def test_guessing_tokens_from_one_address_gets_429_with_retry_after(
    make_server: ServerFactory,
) -> None:
    server = await make_server([], guess_limit=5, guess_window_s=60.0)
    for i in range(5):
        status, _ = await server.call("validate", licenseToken=f"GUESS-{i}")
        assert status == 200
    resp = await server.client.post("/licensing/validate", json={"licenseToken": "GUESS-X"})
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert (await resp.json())["code"] == "TOO_MANY_REQUESTS"
    server.clock.advance(61)
    status, _ = await server.call("validate", licenseToken="GUESS-Y")
    assert status == 200
