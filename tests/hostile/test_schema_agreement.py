"""Point 9 of issue 10, case by case: what schemathesis found where the document and the
server disagreed, each now agreed (the e2e schemathesis run checks the whole surface)."""

from __future__ import annotations

from typing import Any

import pytest

from lls.http.openapi import document
from tests.conftest import Server, ServerFactory
from tests.pools import grant

FEATURES = [{"code": "F", "type": "floating", "count": 400_000}]


def _documented(path: str, method: str, status: int) -> bool:
    return str(status) in document()["paths"][path][method]["responses"]


async def _checkout(server: Server, quantity: Any) -> tuple[int, Any]:
    return await server.call(
        "features/checkout",
        licenseToken="F-LIC",
        authContext="pc",
        featureCode="F",
        quantity=quantity,
    )


@pytest.fixture
async def feature_server(make_server: ServerFactory) -> Server:
    server = await make_server([grant("F-LIC", features=FEATURES)])
    await server.activate("F-LIC", "pc")
    return server


async def test_integral_float_quantity_is_an_integer_and_accepted(feature_server: Server) -> None:
    status, body = await _checkout(feature_server, 362881.0)

    assert status == 200, body
    assert (body["authStatus"], body["quantity"], body["checkedOut"]) == ("Success", 362881, 362881)


@pytest.mark.parametrize("quantity", ["2", 1.5, True, None, 0, 1_000_001, 1e300])
async def test_quantity_that_is_not_a_whole_number_in_range_stays_400(
    feature_server: Server, quantity: Any
) -> None:
    status, body = await _checkout(feature_server, quantity)

    assert status == 400
    assert body["field"] == "quantity"
    assert feature_server.licensing.state.licenses["F-LIC"].in_use == {}


def test_document_says_quantity_is_an_integer_from_1_to_1000000() -> None:
    quantity = document()["components"]["schemas"]["FeatureRequest"]["properties"]["quantity"]

    assert quantity == {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1}


@pytest.mark.parametrize(
    "path",
    [
        "/admin/v1/offline/activate",
        "/admin/v1/offline/refresh",
        "/admin/v1/offline/deactivate",
        "/admin/v1/licenses/{token}/dissociate",
    ],
)
@pytest.mark.parametrize("status", [400, 415])
def test_offline_and_dissociate_routes_document_400_and_415(path: str, status: int) -> None:
    assert _documented(path, "post", status)


async def test_offline_route_answers_the_documented_415(server: Server) -> None:
    resp = await server.client.post(
        "/admin/v1/offline/refresh",
        data=b"x",
        headers={**server.admin_headers, "Content-Type": "text/plain"},
    )

    assert resp.status == 415
    assert _documented("/admin/v1/offline/refresh", "post", 415)


async def test_dissociate_answers_the_documented_400(server: Server) -> None:
    resp = await server.client.post(
        "/admin/v1/licenses/LIC-ONE/dissociate",
        json={"authContext": {"not": "a string"}},
        headers=server.admin_headers,
    )

    assert resp.status == 400
    assert _documented("/admin/v1/licenses/{token}/dissociate", "post", 400)


async def test_validate_with_null_auth_context_is_accepted_and_documented_so(
    server: Server,
) -> None:
    status, body = await server.call("validate", licenseToken="LIC-ONE", authContext=None)
    prop = document()["components"]["schemas"]["ValidateRequest"]["properties"]["authContext"]

    assert (status, body["authStatus"]) == (200, "Success")
    assert {"type": "null"} in prop["anyOf"]


async def test_audit_after_beyond_its_documented_maximum_is_400(server: Server) -> None:
    params = document()["paths"]["/admin/v1/audit"]["get"]["parameters"]
    after = next(p for p in params if p["name"] == "after")["schema"]

    top = await server.client.get(
        "/admin/v1/audit", params={"after": str(after["maximum"])}, headers=server.admin_headers
    )
    beyond = await server.client.get(
        "/admin/v1/audit", params={"after": str(after["maximum"] + 1)}, headers=server.admin_headers
    )

    assert (top.status, beyond.status) == (200, 400)


def test_pool_route_describes_a_media_type_a_generator_can_serialise() -> None:
    content = document()["paths"]["/admin/v1/pool"]["post"]["requestBody"]["content"]

    assert "text/plain" in content and "application/jose" in content


async def test_pool_sent_as_text_plain_is_imported(server: Server) -> None:
    from tests.pools import make_pool

    raw = make_pool(server.vendor, server.instance, [grant("TXT")], seq=7, iat=server.clock.now())

    resp = await server.client.post(
        "/admin/v1/pool", data=raw, headers={**server.admin_headers, "Content-Type": "text/plain"}
    )

    assert resp.status == 200


def test_answer_schema_lists_every_reason_and_status() -> None:
    answer = document()["components"]["schemas"]["ValidationResponse"]["properties"]

    assert answer["authStatus"]["enum"] == ["Success", "Failed", "Locked"]
    assert "SESSION_LIMIT_REACHED" in answer["reason"]["anyOf"][0]["enum"]
