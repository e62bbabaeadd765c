"""Offline activation tokens through the admin API (sync-format §4, api.md §6)."""

from __future__ import annotations

import os
from typing import Any

import msgspec
import pytest

from lls.clock import parse_rfc3339, rfc3339
from lls.protocol.offline import (
    TYP_OFFLINE_DEACTIVATION,
    TYP_OFFLINE_REFRESH,
    TYP_OFFLINE_REQUEST,
    TYP_OFFLINE_RESPONSE,
)
from lls.sealed import KeyPair, open_sealed, seal
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL (the store contract, end to end)."""
    return both_backends


LEASE = 3 * 86_400
FEATURES = [
    {"code": "PDF", "type": "floating", "count": 2},
    {"code": "DARK", "type": "boolean"},
]


def request_token(
    server: Server,
    device: KeyPair,
    *,
    license_token: str = "OFF",
    ctx: str = "device-1",
    typ: str = TYP_OFFLINE_REQUEST,
    nonce: str | None = None,
) -> str:
    payload = {
        "iss": "device",
        "aud": server.instance.instance_id,
        "iat": int(server.clock.now()),
        "licenseToken": license_token,
        "productCodes": [PRODUCT],
        "authContext": ctx,
        "deviceKeys": device.public().to_jwks(),
        "nonce": nonce or os.urandom(8).hex(),
    }
    return seal(
        msgspec.json.encode(payload),
        typ=typ,
        signer=device,
        recipient=server.instance.keys.public(),
    )


def deactivation_token(
    server: Server, signer: KeyPair, activation_id: str, ctx: str = "device-1"
) -> str:
    payload = {"activationId": activation_id, "authContext": ctx, "iat": int(server.clock.now())}
    return seal(
        msgspec.json.encode(payload),
        typ=TYP_OFFLINE_DEACTIVATION,
        signer=signer,
        recipient=server.instance.keys.public(),
    )


async def admin_post(server: Server, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    resp = await server.client.post(
        f"/admin/v1/offline/{path}", json=body, headers=server.admin_headers
    )
    return resp.status, (await resp.json()) if resp.status != 204 else None


def opened(server: Server, device: KeyPair, token: str, typ: str) -> Any:
    payload = open_sealed(token, typ=typ, recipient=device, trusted=[server.instance.keys.public()])
    return msgspec.json.decode(payload)


@pytest.fixture
async def oserver(make_server: ServerFactory) -> Server:
    return await make_server(
        [
            grant("OFF", seats=1, offlineLeaseSeconds=LEASE, features=FEATURES),
            grant(
                "SHORT",
                seats=1,
                offlineLeaseSeconds=LEASE,
                validUntil=rfc3339(__import__("time").time() + 86_400),
            ),
        ]
    )


@pytest.fixture(scope="module")
def device() -> KeyPair:
    return KeyPair.generate()


async def test_activate_grants_lease_and_response_opens_on_the_device(
    oserver: Server, device: KeyPair
) -> None:
    req = request_token(oserver, device, nonce="nonce-0001")
    status, doc = await admin_post(oserver, "activate", {"token": req})
    assert status == 200, doc
    assert doc["leaseExpiresAt"] == rfc3339(oserver.clock.now() + LEASE)
    payload = opened(oserver, device, doc["token"], TYP_OFFLINE_RESPONSE)
    assert (payload["activationId"], payload["nonce"]) == (doc["activationId"], "nonce-0001")
    assert (payload["authStatus"], payload["licenseToken"], payload["authContext"]) == (
        "Success",
        "OFF",
        "device-1",
    )
    assert [f["code"] for f in payload["features"]] == ["DARK"]  # boolean features only
    assert payload["iss"] == oserver.instance.instance_id


async def test_same_request_twice_gives_same_activation_and_one_seat(
    oserver: Server, device: KeyPair
) -> None:
    req = request_token(oserver, device)
    _, first = await admin_post(oserver, "activate", {"token": req})
    _, second = await admin_post(oserver, "activate", {"token": req})
    assert first["activationId"] == second["activationId"]
    resp = await oserver.client.get("/admin/v1/offline", headers=oserver.admin_headers)
    assert len((await resp.json())["activations"]) == 1


async def test_offline_seat_counts_against_seats(oserver: Server, device: KeyPair) -> None:
    await admin_post(oserver, "activate", {"token": request_token(oserver, device)})
    body = await oserver.activate("OFF", "online-pc")
    assert body["reason"] == "SESSION_LIMIT_REACHED"
    other = KeyPair.generate()
    status, problem = await admin_post(
        oserver, "activate", {"token": request_token(oserver, other, ctx="device-2")}
    )
    assert (status, problem["code"]) == (422, "SESSION_LIMIT_REACHED")


async def test_offline_activation_cannot_check_out_floating_features(
    oserver: Server, device: KeyPair
) -> None:
    await admin_post(oserver, "activate", {"token": request_token(oserver, device)})
    _, body = await oserver.call(
        "features/checkout", licenseToken="OFF", authContext="device-1", featureCode="PDF"
    )
    assert body["reason"] == "NO_ACTIVE_SESSION"


async def test_refresh_moves_lease_from_now(oserver: Server, device: KeyPair) -> None:
    _, doc = await admin_post(oserver, "activate", {"token": request_token(oserver, device)})
    oserver.clock.advance(86_400)
    status, refreshed = await admin_post(oserver, "refresh", {"activationId": doc["activationId"]})
    assert status == 200
    assert refreshed["leaseExpiresAt"] == rfc3339(oserver.clock.now() + LEASE)
    payload = opened(oserver, device, refreshed["token"], TYP_OFFLINE_REFRESH)
    assert payload["leaseExpiresAt"] == refreshed["leaseExpiresAt"]


async def test_refresh_after_expiry_only_while_seat_is_free(
    oserver: Server, device: KeyPair
) -> None:
    _, doc = await admin_post(oserver, "activate", {"token": request_token(oserver, device)})
    oserver.clock.advance(LEASE + 1)
    status, _ = await admin_post(oserver, "refresh", {"activationId": doc["activationId"]})
    assert status == 200  # lapsed, but nobody took the seat
    oserver.clock.advance(LEASE + 1)
    assert (await oserver.activate("OFF", "online-pc"))["authStatus"] == "Success"
    status, problem = await admin_post(oserver, "refresh", {"activationId": doc["activationId"]})
    assert (status, problem["code"]) == (422, "SESSION_LIMIT_REACHED")


async def test_device_deactivation_frees_seat_and_twice_is_harmless(
    oserver: Server, device: KeyPair
) -> None:
    _, doc = await admin_post(oserver, "activate", {"token": request_token(oserver, device)})
    token = deactivation_token(oserver, device, doc["activationId"])
    assert (await admin_post(oserver, "deactivate", {"token": token}))[0] == 204
    assert (await admin_post(oserver, "deactivate", {"token": token}))[0] == 204
    assert (await oserver.activate("OFF", "online-pc"))["authStatus"] == "Success"


async def test_forged_deactivation_is_refused_and_seat_kept(
    oserver: Server, device: KeyPair
) -> None:
    _, doc = await admin_post(oserver, "activate", {"token": request_token(oserver, device)})
    forged = deactivation_token(oserver, KeyPair.generate(), doc["activationId"])
    status, problem = await admin_post(oserver, "deactivate", {"token": forged})
    assert (status, problem["code"]) == (422, "BAD_SIGNATURE")
    assert (await oserver.activate("OFF", "online-pc"))["reason"] == "SESSION_LIMIT_REACHED"


async def test_deactivation_signed_by_another_recorded_device_is_refused(
    make_server: ServerFactory,
    device: KeyPair,
) -> None:
    server: Server = await make_server([grant("OFF", seats=2)])
    other = KeyPair.generate()
    _, mine = await admin_post(server, "activate", {"token": request_token(server, device)})
    await admin_post(server, "activate", {"token": request_token(server, other, ctx="device-2")})
    token = deactivation_token(server, other, mine["activationId"], ctx="device-1")
    status, problem = await admin_post(server, "deactivate", {"token": token})
    assert (status, problem["code"]) == (422, "NOT_THE_ACTIVATION_DEVICE")


async def test_lease_is_capped_by_valid_until(oserver: Server, device: KeyPair) -> None:
    status, doc = await admin_post(
        oserver, "activate", {"token": request_token(oserver, device, license_token="SHORT")}
    )
    assert status == 200
    lease_end = parse_rfc3339(doc["leaseExpiresAt"])
    assert lease_end < oserver.clock.now() + 86_400 + 1
    assert lease_end < oserver.clock.now() + LEASE


@pytest.mark.parametrize("typ", [TYP_OFFLINE_DEACTIVATION, TYP_OFFLINE_RESPONSE, "lls-pool+jws"])
async def test_token_of_wrong_typ_is_refused(oserver: Server, device: KeyPair, typ: str) -> None:
    status, problem = await admin_post(
        oserver, "activate", {"token": request_token(oserver, device, typ=typ)}
    )
    assert (status, problem["code"]) == (422, "WRONG_TYP")


async def test_request_for_unknown_license_names_the_reason(
    oserver: Server, device: KeyPair
) -> None:
    status, problem = await admin_post(
        oserver, "activate", {"token": request_token(oserver, device, license_token="NOPE")}
    )
    assert (status, problem["code"]) == (422, "LICENSE_NOT_FOUND")


async def test_garbage_and_missing_token_are_refused(oserver: Server) -> None:
    assert (await admin_post(oserver, "activate", {"token": "garbage"}))[1][
        "code"
    ] == "BAD_ENVELOPE"
    status, _ = await admin_post(oserver, "activate", {})
    assert status == 400
