"""The answer bytes an unchanged client of the vendor's online API reads, pinned exactly.

The vendor's examples put `isTrial, contact, productCode, authStatus, companyName`
in that order; LLS sends those five first and then its own additions, and with
`compat.vendor_fields_only` nothing but the five (api.md §2, §7).
"""

from __future__ import annotations

import json

import msgspec
import pytest

from lls.clock import rfc3339
from lls.http import schemas
from lls.http.ops_api import openapi_document
from tests.conftest import DEFAULT_LICENSES, Server, ServerFactory
from tests.pools import PRODUCT, grant

JOHN = b'{"firstName":"John","lastName":"Doe","email":"john@example.com"}'
NOBODY = b'{"firstName":null,"lastName":null,"email":null}'


async def raw(server: Server, endpoint: str, body: dict[str, object]) -> tuple[int, bytes]:
    resp = await server.client.post(f"/licensing/{endpoint}", json=body)
    return resp.status, await resp.read()


def session_body(token: str, ctx: str) -> dict[str, object]:
    return {"licenseToken": token, "productCodes": [PRODUCT], "authContext": ctx}


async def test_activate_success_bytes_put_vendor_fields_first_in_vendor_order(
    server: Server,
) -> None:
    expires = rfc3339(server.clock.now() + 600).encode()
    status, body = await raw(server, "activate", session_body("LIC-ONE", "h1"))
    assert status == 200
    assert body == (
        b'{"isTrial":false,"contact":' + JOHN + b',"productCode":"ACME_PRO",'
        b'"authStatus":"Success","companyName":"Acme Trading Corp",'
        b'"reason":null,"message":null,"sessionExpiresAt":"' + expires + b'",'
        b'"licenseExpiresAt":"2099-01-01T00:00:00Z","features":[]}'
    )


async def test_activate_refusal_bytes_put_vendor_fields_first_in_vendor_order(
    server: Server,
) -> None:
    await server.activate("LIC-ONE", "h1")
    status, body = await raw(server, "activate", session_body("LIC-ONE", "h2"))
    assert status == 200
    assert body == (
        b'{"isTrial":false,"contact":' + JOHN + b',"productCode":null,'
        b'"authStatus":"Failed","companyName":"Acme Trading Corp",'
        b'"reason":"SESSION_LIMIT_REACHED","message":"All seats of this license are in use",'
        b'"sessionExpiresAt":null,"licenseExpiresAt":"2099-01-01T00:00:00Z","features":[]}'
    )


async def test_validate_trial_bytes_put_vendor_fields_first_in_vendor_order(
    server: Server,
) -> None:
    status, body = await raw(server, "validate", {"licenseToken": "LIC-TRIAL"})
    assert status == 200
    assert body == (
        b'{"isTrial":true,"contact":' + JOHN + b',"productCode":"ACME_PRO",'
        b'"authStatus":"Success","companyName":"Acme Trading Corp",'
        b'"reason":null,"message":null,"sessionExpiresAt":null,'
        b'"licenseExpiresAt":"2099-01-01T00:00:00Z","features":[]}'
    )


async def test_strict_mode_success_bytes_are_exactly_the_five_vendor_fields(
    make_server: ServerFactory,
) -> None:
    server = await make_server(DEFAULT_LICENSES, vendor_fields_only=True)
    status, body = await raw(server, "activate", session_body("LIC-ONE", "h1"))
    assert status == 200
    assert body == (
        b'{"isTrial":false,"contact":' + JOHN + b',"productCode":"ACME_PRO",'
        b'"authStatus":"Success","companyName":"Acme Trading Corp"}'
    )


async def test_strict_mode_refusal_bytes_are_exactly_the_five_vendor_fields(
    make_server: ServerFactory,
) -> None:
    server = await make_server(DEFAULT_LICENSES, vendor_fields_only=True)
    await server.activate("LIC-ONE", "h1")
    status, body = await raw(server, "activate", session_body("LIC-ONE", "h2"))
    assert status == 200
    assert body == (
        b'{"isTrial":false,"contact":' + JOHN + b',"productCode":null,'
        b'"authStatus":"Failed","companyName":"Acme Trading Corp"}'
    )


async def test_strict_mode_trial_bytes_are_exactly_the_five_vendor_fields(
    make_server: ServerFactory,
) -> None:
    server = await make_server(DEFAULT_LICENSES, vendor_fields_only=True)
    status, body = await raw(server, "validate", {"licenseToken": "LIC-TRIAL"})
    assert status == 200
    assert body == (
        b'{"isTrial":true,"contact":' + JOHN + b',"productCode":"ACME_PRO",'
        b'"authStatus":"Success","companyName":"Acme Trading Corp"}'
    )


async def test_strict_mode_extend_and_unknown_token_answer_only_vendor_fields(
    make_server: ServerFactory,
) -> None:
    server = await make_server(DEFAULT_LICENSES, vendor_fields_only=True)
    await server.activate("LIC-ONE", "h1")
    _, extended = await raw(server, "extend", session_body("LIC-ONE", "h1"))
    _, unknown = await raw(server, "deactivate", {"licenseToken": "NOPE", "authContext": "h1"})
    assert extended == (
        b'{"isTrial":false,"contact":' + JOHN + b',"productCode":"ACME_PRO",'
        b'"authStatus":"Success","companyName":"Acme Trading Corp"}'
    )
    assert unknown == (
        b'{"isTrial":false,"contact":' + NOBODY + b',"productCode":null,'
        b'"authStatus":"Failed","companyName":null}'
    )


async def test_strict_mode_bad_request_carries_only_the_vendor_error_member(
    make_server: ServerFactory,
) -> None:
    server = await make_server(DEFAULT_LICENSES, vendor_fields_only=True)
    status, body = await raw(server, "validate", {"productCodes": [PRODUCT]})
    assert (status, body) == (400, b'{"error":"license token field is required."}')


async def test_strict_mode_throttle_keeps_status_and_retry_after_with_only_error(
    make_server: ServerFactory,
) -> None:
    server = await make_server(DEFAULT_LICENSES, vendor_fields_only=True, guess_limit=1)
    await raw(server, "validate", {"licenseToken": "NOPE"})
    resp = await server.client.post("/licensing/activate", json=session_body("NOPE", "h1"))
    assert (resp.status, list(await resp.json())) == (429, ["error"])
    assert int(resp.headers["Retry-After"]) > 0


async def test_strict_mode_leaves_feature_answers_whole(make_server: ServerFactory) -> None:
    server = await make_server(
        [grant("FEAT", features=[{"code": "PDF", "type": "floating", "count": 2}])],
        vendor_fields_only=True,
    )
    await server.activate("FEAT", "h1")
    _, body = await server.call(
        "features/checkout", licenseToken="FEAT", authContext="h1", featureCode="PDF"
    )
    assert (body["authStatus"], body["checkedOut"], body["available"]) == ("Success", 1, 1)


async def test_unknown_token_answers_a_contact_object_of_nulls(server: Server) -> None:
    status, body = await raw(server, "validate", {"licenseToken": "NOPE"})
    assert status == 200
    assert body == (
        b'{"isTrial":false,"contact":' + NOBODY + b',"productCode":null,'
        b'"authStatus":"Failed","companyName":null,"reason":"LICENSE_NOT_FOUND",'
        b'"message":"Invalid license token","sessionExpiresAt":null,'
        b'"licenseExpiresAt":null,"features":[]}'
    )


async def test_license_without_contact_answers_a_contact_object_of_nulls(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("BARE", contact=None, companyName=None)])
    _, success = await server.call("validate", licenseToken="BARE")
    _, refusal = await server.call("validate", licenseToken="BARE", productCodes=["OTHER"])
    nobody = {"firstName": None, "lastName": None, "email": None}
    assert (success["authStatus"], success["contact"]) == ("Success", nobody)
    assert (refusal["reason"], refusal["contact"]) == ("PRODUCT_MISMATCH", nobody)


async def test_partial_contact_keeps_its_known_members(make_server: ServerFactory) -> None:
    server = await make_server([grant("SOME", contact={"email": "ops@example.com"})])
    _, body = await server.call("validate", licenseToken="SOME")
    assert body["contact"] == {"firstName": None, "lastName": None, "email": "ops@example.com"}


async def test_where_the_vendor_is_silent_names_and_paths_stay_exact(server: Server) -> None:
    wrong_case = await raw(server, "validate", {"LicenseToken": "LIC-ONE"})
    slash = await server.client.post("/licensing/validate/", json={"licenseToken": "LIC-ONE"})
    upper = await server.client.post("/Licensing/validate", json={"licenseToken": "LIC-ONE"})
    get = await server.client.get("/licensing/validate")
    assert wrong_case == (
        400,
        b'{"error":"license token field is required.","code":"VALIDATION_ERROR",'
        b'"field":"licenseToken"}',
    )
    assert (slash.status, upper.status, get.status) == (404, 404, 405)


@pytest.mark.parametrize(
    ("name", "struct"),
    [
        ("ValidationResponse", schemas.ValidationResponse),
        ("VendorResponse", schemas.VendorResponse),  # generated: named after the struct
        ("ValidateRequest", schemas.ValidateRequest),
        ("SessionRequest", schemas.SessionRequest),
        ("DeactivateRequest", schemas.DeactivateRequest),
        ("FeatureRequest", schemas.FeatureRequest),
    ],
)
def test_openapi_schema_lists_the_wire_members_in_order_with_their_requiredness(
    name: str, struct: type[msgspec.Struct]
) -> None:
    schema = json.loads(openapi_document())["components"]["schemas"][name]
    fields = msgspec.structs.fields(struct)
    assert (list(schema["properties"]), schema["required"]) == (
        [f.encode_name for f in fields],
        [f.encode_name for f in fields if f.required],
    )
