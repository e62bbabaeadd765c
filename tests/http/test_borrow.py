"""Borrowing a seat for the road (issue 16, part 3): POST /licensing/borrow and its return.

Real server, real SQLite file, real keys: the device is the SDK's OfflineDevice, so
every token here is opened and verified exactly as a laptop off the LAN would.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lls.client import OfflineDevice, OfflineError
from lls.clock import parse_rfc3339
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

DAY_S = 86_400
MAX_S = 3 * DAY_S
LICENSES = [
    grant("LIC-BORROW", seats=1, borrowMaxSeconds=MAX_S),
    grant("LIC-BORROW-2", seats=2, borrowMaxSeconds=MAX_S),
    grant(
        "LIC-UNITS",
        seats=1,
        borrowMaxSeconds=MAX_S,
        features=[{"code": "EXPORT_PDF", "type": "floating", "count": 2}],
    ),
    grant("LIC-SHORT", seats=1, borrowMaxSeconds=MAX_S, validUntil="2099-01-01T00:00:00Z"),
    grant("LIC-NOBORROW", seats=1),
]


@pytest.fixture
async def bserver(make_server: ServerFactory) -> Server:
    return await make_server(LICENSES)


async def _device(server: Server, tmp_path: Path, name: str = "laptop") -> OfflineDevice:
    device = OfflineDevice(tmp_path / f"{name}.jwks")
    resp = await server.client.get("/licensing/instance")
    device.pin_server(await resp.json())
    return device


@pytest.fixture
async def device(bserver: Server, tmp_path: Path) -> OfflineDevice:
    """The laptop, with `bserver` pinned (it activates what it will borrow itself)."""
    return await _device(bserver, tmp_path)


@pytest.fixture
async def laptop(bserver: Server, device: OfflineDevice) -> OfflineDevice:
    """The laptop with a live session on LIC-BORROW as `laptop-1`: ready to borrow it."""
    await bserver.activate("LIC-BORROW", "laptop-1")
    return device


async def _borrow(
    server: Server,
    device: OfflineDevice,
    token: str = "LIC-BORROW",
    ctx: str = "laptop-1",
    seconds: int = DAY_S,
    **extra: Any,
) -> tuple[int, Any]:
    body: dict[str, Any] = {
        "licenseToken": token,
        "productCodes": [PRODUCT],
        "authContext": ctx,
        "borrowSeconds": seconds,
        **device.prepare_borrow(token, [PRODUCT], ctx),
        **extra,
    }
    return await server.call("borrow", **body)


async def _admin(server: Server, method: str, path: str) -> tuple[int, Any]:
    resp = await server.client.request(method, path, headers=server.admin_headers)
    return resp.status, (await resp.json() if resp.status == 200 else None)


def _seats(listed: Any) -> list[Any]:
    """The admin's sessions answer as one list: the page of sessions, then `borrowed`."""
    return [*listed["sessions"], *listed["borrowed"]]


async def _kinds(server: Server, token: str = "LIC-BORROW") -> list[str]:
    """The kind of each seat the admin lists on a license: `session` or `borrow`."""
    _, listed = await _admin(server, "GET", f"/admin/v1/sessions?license={token}")
    return [s["kind"] for s in _seats(listed)]


async def _activate(server: Server, token: str, ctx: str) -> Any:
    _, answer = await server.call(
        "activate", licenseToken=token, productCodes=[PRODUCT], authContext=ctx
    )
    return answer


def _at(server: Server, seconds: float) -> str:
    return datetime.fromtimestamp(int(server.clock.now() + seconds), UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


async def test_borrow_gives_a_token_the_device_verifies_offline(
    bserver: Server, tmp_path: Path, laptop: OfflineDevice
) -> None:
    status, answer = await _borrow(bserver, laptop)
    assert status == 200, answer
    assert (answer["authStatus"], answer["reason"], answer["capped"]) == ("Success", None, False)
    assert answer["leaseExpiresAt"] == _at(bserver, DAY_S)
    lease = laptop.apply_response(answer["token"])  # decrypts, verifies the pinned LLS keys
    assert (lease.kind, lease.activation_id, lease.license_token) == (
        "borrow",
        answer["activationId"],
        "LIC-BORROW",
    )
    assert lease.lease_expires_at == parse_rfc3339_dt(answer["leaseExpiresAt"])
    # Another process on this machine, no server in sight: the lease file alone answers.
    again = OfflineDevice(tmp_path / "laptop.jwks")
    assert again.check().activation_id == lease.activation_id
    with pytest.raises(OfflineError) as expired:
        again.check(now=lease.lease_expires_at + timedelta(seconds=1))
    assert expired.value.code == "LEASE_EXPIRED"


def parse_rfc3339_dt(text: str) -> datetime:
    return datetime.fromtimestamp(parse_rfc3339(text), UTC)


async def test_the_borrowed_seat_stays_taken_and_the_admin_sees_its_end(
    bserver: Server, laptop: OfflineDevice
) -> None:
    _, answer = await _borrow(bserver, laptop)
    # The session is gone (the laptop left), the seat is not.
    refused = await _activate(bserver, "LIC-BORROW", "desk-2")
    assert (refused["authStatus"], refused["reason"]) == ("Failed", "SESSION_LIMIT_REACHED")
    _, listed = await _admin(bserver, "GET", "/admin/v1/sessions?license=LIC-BORROW")
    assert [(s["kind"], s["id"], s["authContext"], s["expiresAt"]) for s in _seats(listed)] == [
        ("borrow", answer["activationId"], "laptop-1", answer["leaseExpiresAt"])
    ]
    _, lic = await _admin(bserver, "GET", "/admin/v1/licenses/LIC-BORROW")
    assert (lic["liveSessions"], lic["offlineSeats"], lic["borrowedSeats"]) == (0, 1, 1)
    assert [a["kind"] for a in lic["offline"]] == ["borrow"]


async def test_the_borrowed_seat_is_held_across_a_restart(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    first = await make_server(LICENSES)
    device = await _device(first, tmp_path)
    await first.activate("LIC-BORROW", "laptop-1")
    _, answer = await _borrow(first, device)
    assert answer["authStatus"] == "Success"
    second = await make_server()  # the same data directory, memory from the database
    refused = await _activate(second, "LIC-BORROW", "desk-2")
    assert refused["reason"] == "SESSION_LIMIT_REACHED"
    _, listed = await _admin(second, "GET", "/admin/v1/sessions")
    assert [(s["kind"], s["expiresAt"]) for s in _seats(listed)] == [
        ("borrow", answer["leaseExpiresAt"])
    ]


async def test_return_online_frees_the_seat_and_twice_is_harmless(
    bserver: Server, laptop: OfflineDevice
) -> None:
    await _borrow(bserver, laptop)
    for _ in range(2):
        status, body = await bserver.call(
            "borrow/return", licenseToken="LIC-BORROW", authContext="laptop-1"
        )
        assert (status, body) == (204, None)
    assert (await _activate(bserver, "LIC-BORROW", "desk-2"))["authStatus"] == "Success"
    status, unknown = await bserver.call(
        "borrow/return", licenseToken="NOPE", authContext="laptop-1"
    )
    assert (status, unknown["reason"]) == (200, "LICENSE_NOT_FOUND")


async def test_the_device_deactivation_token_through_the_admin_frees_the_seat(
    bserver: Server, laptop: OfflineDevice
) -> None:
    _, answer = await _borrow(bserver, laptop)
    laptop.apply_response(answer["token"])
    resp = await bserver.client.post(
        "/admin/v1/offline/deactivate",
        json={"token": laptop.deactivation_token()},
        headers=bserver.admin_headers,
    )
    assert resp.status == 204, await resp.text()
    assert (await _activate(bserver, "LIC-BORROW", "desk-2"))["authStatus"] == "Success"


async def test_a_borrow_over_the_maximum_is_capped_not_refused(
    bserver: Server, laptop: OfflineDevice
) -> None:
    status, answer = await _borrow(bserver, laptop, seconds=30 * DAY_S)
    assert (status, answer["authStatus"], answer["capped"]) == (200, "Success", True)
    assert answer["leaseExpiresAt"] == _at(bserver, MAX_S)
    assert laptop.apply_response(answer["token"]).lease_expires_at == parse_rfc3339_dt(
        _at(bserver, MAX_S)
    )


async def test_a_borrow_never_outlasts_the_license(bserver: Server, device: OfflineDevice) -> None:
    ends = bserver.clock.now() + DAY_S
    valid_until = datetime.fromtimestamp(int(ends), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = await bserver.import_pool(
        [grant("LIC-SHORT", seats=1, borrowMaxSeconds=MAX_S, validUntil=valid_until)],
        iat=bserver.clock.now(),
    )
    assert status == 200, body
    await bserver.activate("LIC-SHORT", "laptop-1")
    _, answer = await _borrow(bserver, device, token="LIC-SHORT", seconds=2 * DAY_S)
    assert (answer["leaseExpiresAt"], answer["capped"]) == (valid_until, True)


async def test_a_license_without_borrowing_refuses_with_a_reason_and_keeps_the_session(
    bserver: Server, device: OfflineDevice
) -> None:
    await bserver.activate("LIC-NOBORROW", "laptop-1")
    status, answer = await _borrow(bserver, device, token="LIC-NOBORROW")
    assert (status, answer["authStatus"], answer["reason"]) == (
        200,
        "Failed",
        "BORROW_NOT_ALLOWED",
    )
    assert (answer["token"], answer["activationId"], answer["capped"]) == (None, None, None)
    assert await _kinds(bserver, "LIC-NOBORROW") == ["session"]


async def test_borrow_without_a_live_session_is_refused(
    bserver: Server, device: OfflineDevice
) -> None:
    _, answer = await _borrow(bserver, device)
    assert (answer["authStatus"], answer["reason"]) == ("Failed", "NO_ACTIVE_SESSION")
    await bserver.activate("LIC-BORROW", "laptop-1")
    bserver.clock.advance(601)  # the session's window passed: it is no live session
    _, answer = await _borrow(bserver, device)
    assert answer["reason"] == "NO_ACTIVE_SESSION"
    _, unknown = await _borrow(bserver, device, token="NOPE")
    assert unknown["reason"] == "LICENSE_NOT_FOUND"


def _zeroed(device: OfflineDevice, curve: str) -> dict[str, Any]:
    """The device's JWKS with one key's point replaced by 32 zero bytes: it parses, but
    no shared key can be computed with a low-order X25519 point."""
    jwks = device.public_keys.to_jwks()
    for key in jwks["keys"]:
        if key["crv"] == curve:
            key["x"] = "A" * 43
            key.pop("kid", None)
    return jwks


@pytest.mark.parametrize(
    "bad",
    [
        {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]},
        {"keys": [{"kty": "RSA"}, {"kty": "OKP"}]},
        {"keys": [{}]},
    ],
)
async def test_unusable_device_keys_are_refused_with_a_reason_and_change_nothing(
    bserver: Server, laptop: OfflineDevice, bad: dict[str, Any]
) -> None:
    for keys in (bad, _zeroed(laptop, "X25519")):
        status, answer = await _borrow(bserver, laptop, devicePublicKey=keys)
        assert (status, answer["authStatus"], answer["reason"]) == (
            200,
            "Failed",
            "BAD_DEVICE_KEY",
        ), answer
        assert answer["token"] is None
    assert await _kinds(bserver) == ["session"]
    second = await _activate(bserver, "LIC-BORROW", "desk-2")
    assert second["reason"] == "SESSION_LIMIT_REACHED"  # the session holds the seat still


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"devicePublicKey": {"keys": []}}, "devicePublicKey.keys", "VALIDATION_ERROR"),
        ({"devicePublicKey": "not a jwks"}, "devicePublicKey", "VALIDATION_ERROR"),
        ({"borrowSeconds": 0}, "borrowSeconds", "VALIDATION_ERROR"),
        ({"borrowSeconds": 1.5}, "borrowSeconds", "VALIDATION_ERROR"),
        ({"nonce": "short"}, "nonce", "VALIDATION_ERROR"),
    ],
)  # fmt: skip
async def test_bad_input_is_400_naming_the_field_and_changes_nothing(
    bserver: Server, laptop: OfflineDevice, change: dict[str, Any], field: str, code: str
) -> None:
    status, answer = await _borrow(bserver, laptop, **change)
    assert (status, answer["code"], answer.get("field")) == (400, code, field)
    assert await _kinds(bserver) == ["session"]
    status, missing = await bserver.call(
        "borrow", licenseToken="LIC-BORROW", authContext="laptop-1", borrowSeconds=60
    )
    assert (status, missing["field"]) == (400, "devicePublicKey")


async def test_borrow_seconds_is_a_json_schema_integer(
    bserver: Server, laptop: OfflineDevice
) -> None:
    status, answer = await _borrow(bserver, laptop, seconds=3600.0)  # type: ignore[arg-type]
    assert (status, answer["leaseExpiresAt"]) == (200, _at(bserver, 3600)), answer


async def test_the_end_of_the_borrow_frees_the_seat_at_request_time(
    bserver: Server, laptop: OfflineDevice
) -> None:
    await _borrow(bserver, laptop, seconds=120)
    bserver.clock.advance(119)
    assert (await _activate(bserver, "LIC-BORROW", "desk-2"))["reason"] == "SESSION_LIMIT_REACHED"
    bserver.clock.advance(2)  # no sweep runs here (run_jobs=False): the request decides
    assert (await _activate(bserver, "LIC-BORROW", "desk-2"))["authStatus"] == "Success"
    assert await _kinds(bserver) == ["session"]


async def test_an_admin_ends_a_borrowed_seat_and_the_device_keeps_its_lease(
    bserver: Server, laptop: OfflineDevice
) -> None:
    _, answer = await _borrow(bserver, laptop)
    laptop.apply_response(answer["token"])
    status, _ = await _admin(bserver, "DELETE", f"/admin/v1/sessions/{answer['activationId']}")
    assert status == 204
    assert (await _activate(bserver, "LIC-BORROW", "desk-2"))["authStatus"] == "Success"
    assert laptop.check().activation_id == answer["activationId"]  # nothing reaches it
    status, _ = await _admin(bserver, "DELETE", f"/admin/v1/sessions/{answer['activationId']}")
    assert status == 404
    events = await (
        await bserver.client.get(
            "/admin/v1/audit?type=offline.*&order=desc&limit=1", headers=bserver.admin_headers
        )
    ).json()
    [ended] = events["events"]
    assert (ended["type"], ended["data"]["kind"], ended["data"]["by"]) == (
        "offline.deactivated",
        "borrow",
        "admin",
    )


async def test_borrow_returns_the_floating_units_the_session_held(
    bserver: Server, device: OfflineDevice
) -> None:
    await bserver.activate("LIC-UNITS", "laptop-1")
    status, out = await bserver.call(
        "features/checkout",
        licenseToken="LIC-UNITS",
        authContext="laptop-1",
        featureCode="EXPORT_PDF",
        quantity=2,
    )
    assert (status, out["authStatus"]) == (200, "Success")
    _, answer = await _borrow(bserver, device, token="LIC-UNITS")
    assert answer["authStatus"] == "Success"
    _, lic = await _admin(bserver, "GET", "/admin/v1/licenses/LIC-UNITS")
    assert [(f["code"], f["available"]) for f in lic["features"]] == [("EXPORT_PDF", 2)]


async def test_a_second_borrow_of_the_same_device_replaces_the_first(
    bserver: Server, device: OfflineDevice
) -> None:
    await bserver.activate("LIC-BORROW-2", "laptop-1")
    _, first = await _borrow(bserver, device, token="LIC-BORROW-2")
    await bserver.activate("LIC-BORROW-2", "laptop-1")  # back on the LAN, a session again
    _, second = await _borrow(bserver, device, token="LIC-BORROW-2")
    assert first["activationId"] != second["activationId"]
    _, lic = await _admin(bserver, "GET", "/admin/v1/licenses/LIC-BORROW-2")
    assert (lic["liveSessions"], lic["borrowedSeats"]) == (0, 1)


async def test_a_borrowed_seat_is_not_refreshed(bserver: Server, laptop: OfflineDevice) -> None:
    _, answer = await _borrow(bserver, laptop)
    resp = await bserver.client.post(
        "/admin/v1/offline/refresh",
        json={"activationId": answer["activationId"]},
        headers=bserver.admin_headers,
    )
    assert resp.status == 422
    assert (await resp.json())["code"] == "BORROW_NOT_REFRESHABLE"


async def test_a_pool_with_borrow_max_seconds_out_of_bounds_is_refused_naming_it(
    bserver: Server,
) -> None:
    for bad in (-1, 365 * DAY_S + 1):
        status, body = await bserver.import_pool(
            [grant("LIC-BAD", borrowMaxSeconds=bad)], iat=bserver.clock.now()
        )
        assert (status, body["code"]) == (422, "BAD_PAYLOAD"), body
        assert "licenses[0].borrowMaxSeconds" in body["detail"], body
    status, _ = await _admin(bserver, "GET", "/admin/v1/licenses/LIC-BAD")
    assert status == 404


async def test_a_pool_that_removes_borrowing_keeps_the_seats_already_borrowed(
    bserver: Server, laptop: OfflineDevice
) -> None:
    await _borrow(bserver, laptop)
    status, body = await bserver.import_pool(
        [grant("LIC-BORROW", seats=1)], iat=bserver.clock.now()
    )
    assert status == 200, body
    assert (await _activate(bserver, "LIC-BORROW", "desk-2"))["reason"] == "SESSION_LIMIT_REACHED"


async def test_a_borrow_the_database_refuses_answers_503_and_the_session_holds_the_seat(
    bserver: Server, laptop: OfflineDevice
) -> None:
    db = sqlite3.connect(bserver.instance.db_path)
    db.execute(
        "CREATE TRIGGER broken BEFORE INSERT ON offline_activations"
        " BEGIN SELECT RAISE(ABORT, 'the disk said no'); END"
    )
    db.commit()
    status, answer = await _borrow(bserver, laptop)
    assert (status, answer["code"]) == (503, "STORAGE_ERROR")
    # Memory was rebuilt from the database: no borrow, the session as it was.
    assert await _kinds(bserver) == ["session"]
    db.execute("DROP TRIGGER broken")
    db.commit()
    db.close()
    status, answer = await _borrow(bserver, laptop)
    assert (status, answer["authStatus"]) == (200, "Success")
