"""The session endpoints against a real server: shapes, reasons, seats, windows."""

from __future__ import annotations

import asyncio

import pytest

from lls.clock import rfc3339
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL (the store contract, end to end)."""
    return both_backends


SHAPE = [  # the online API's five in its order, then the (LLS) additions
    "isTrial",
    "contact",
    "productCode",
    "authStatus",
    "companyName",
    "reason",
    "message",
    "sessionExpiresAt",
    "licenseExpiresAt",
    "features",
]


async def test_activate_free_seat_returns_exact_success_shape(server: Server) -> None:
    resp = await server.client.post(
        "/licensing/activate",
        json={"licenseToken": "LIC-ONE", "productCodes": ["OTHER", PRODUCT], "authContext": "h1"},
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    body = await resp.json()
    assert list(body) == SHAPE
    assert body == {
        "isTrial": False,
        "contact": {"firstName": "John", "lastName": "Doe", "email": "john@example.com"},
        "productCode": PRODUCT,
        "authStatus": "Success",
        "companyName": "Acme Trading Corp",
        "reason": None,
        "message": None,
        "sessionExpiresAt": rfc3339(server.clock.now() + 600),
        "licenseExpiresAt": "2099-01-01T00:00:00Z",
        "features": [],
    }


async def test_validate_trial_license_reports_trial_flag(server: Server) -> None:
    _, body = await server.call("validate", licenseToken="LIC-TRIAL")
    assert body["authStatus"] == "Success"
    assert body["isTrial"] is True


async def test_validate_unknown_token_fails_not_found_with_null_fields(server: Server) -> None:
    status, body = await server.call("validate", licenseToken="NOPE")
    assert status == 200
    assert list(body) == SHAPE
    assert body["authStatus"] == "Failed"
    assert body["reason"] == "LICENSE_NOT_FOUND"
    assert body["message"] == "Invalid license token"
    assert body["contact"] == {"firstName": None, "lastName": None, "email": None}
    assert body["productCode"] is None


async def test_validate_changes_no_session_and_writes_no_event(server: Server) -> None:
    await server.activate("LIC-THREE", "h1")
    events_before = await server.licensing.store.audit(after=0, limit=1000)
    _, body = await server.call(
        "validate", licenseToken="LIC-THREE", productCodes=[PRODUCT], authContext="h2"
    )
    assert body["authStatus"] == "Success"
    assert body["sessionExpiresAt"] is None
    assert [s.auth_context for s in server.licensing.reads.live_sessions()] == ["h1"]
    assert await server.licensing.store.audit(after=0, limit=1000) == events_before


async def test_validate_holder_sees_its_session_expiry(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    _, body = await server.call("validate", licenseToken="LIC-ONE", authContext="h1")
    assert body["sessionExpiresAt"] == rfc3339(server.clock.now() + 600)


async def test_activate_uncovered_product_fails_product_mismatch(server: Server) -> None:
    status, body = await server.call(
        "activate", licenseToken="LIC-ONE", productCodes=["OTHER"], authContext="h1"
    )
    assert (status, body["authStatus"], body["reason"]) == (200, "Failed", "PRODUCT_MISMATCH")
    assert body["message"] == "Invalid product code"
    assert server.licensing.reads.live_sessions() == []


async def test_activate_expired_license_fails_license_expired(make_server: ServerFactory) -> None:
    server = await make_server([grant("OLD", validUntil="2021-01-01T00:00:00Z")])
    body = await server.activate("OLD", "h1")
    assert (body["authStatus"], body["reason"]) == ("Failed", "LICENSE_EXPIRED")
    assert body["message"] == "License expired"


async def test_activate_expired_trial_says_trial_expired(make_server: ServerFactory) -> None:
    server = await make_server([grant("T", isTrial=True, validUntil="2021-01-01T00:00:00Z")])
    body = await server.activate("T", "h1")
    assert (body["reason"], body["message"], body["isTrial"]) == (
        "LICENSE_EXPIRED",
        "Trial expired",
        True,
    )


async def test_activate_before_valid_from_fails_not_yet_valid(make_server: ServerFactory) -> None:
    server = await make_server([grant("SOON", validFrom="2098-01-01T00:00:00Z")])
    body = await server.activate("SOON", "h1")
    assert body["reason"] == "LICENSE_NOT_YET_VALID"


async def test_activate_suspended_and_revoked_fail_with_their_reasons(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("S", status="suspended"), grant("R", status="revoked")])
    assert (await server.activate("S", "h1"))["reason"] == "LICENSE_SUSPENDED"
    assert (await server.activate("R", "h1"))["reason"] == "LICENSE_REVOKED"


async def test_activate_all_seats_taken_fails_session_limit(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    body = await server.activate("LIC-ONE", "h2")
    assert (body["authStatus"], body["reason"]) == ("Failed", "SESSION_LIMIT_REACHED")
    assert body["message"]


async def test_activate_forty_concurrent_contexts_on_three_seats_exactly_three_win(
    server: Server,
) -> None:
    results = await asyncio.gather(*(server.activate("LIC-THREE", f"h{i}") for i in range(40)))
    statuses = [r["authStatus"] for r in results]
    assert statuses.count("Success") == 3
    assert {r["reason"] for r in results if r["authStatus"] != "Success"} == {
        "SESSION_LIMIT_REACHED"
    }
    assert len(server.licensing.reads.live_sessions()) == 3


async def test_activate_again_by_holder_is_idempotent_and_refreshes(server: Server) -> None:
    first = await server.activate("LIC-ONE", "h1")
    server.clock.advance(120)
    again = await server.activate("LIC-ONE", "h1")
    assert again["authStatus"] == "Success"
    assert again["sessionExpiresAt"] > first["sessionExpiresAt"]
    assert len(server.licensing.reads.live_sessions()) == 1


async def test_deactivate_twice_gives_204_both_times_and_frees_seat(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    first = await server.call("deactivate", licenseToken="LIC-ONE", authContext="h1")
    second = await server.call("deactivate", licenseToken="LIC-ONE", authContext="h1")
    assert first == (204, None) and second == (204, None)
    assert (await server.activate("LIC-ONE", "h2"))["authStatus"] == "Success"


async def test_deactivate_unknown_token_fails_not_found(server: Server) -> None:
    status, body = await server.call("deactivate", licenseToken="NOPE", authContext="h1")
    assert (status, body["reason"]) == (200, "LICENSE_NOT_FOUND")


async def test_extend_moves_window_from_now(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    server.clock.advance(500)
    _, body = await server.call(
        "extend", licenseToken="LIC-ONE", productCodes=[PRODUCT], authContext="h1"
    )
    assert body["authStatus"] == "Success"
    assert body["sessionExpiresAt"] == rfc3339(server.clock.now() + 600)


async def test_extend_expired_session_is_not_revived(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    server.clock.advance(601)
    _, body = await server.call(
        "extend", licenseToken="LIC-ONE", productCodes=[PRODUCT], authContext="h1"
    )
    assert (body["authStatus"], body["reason"]) == ("Failed", "NO_ACTIVE_SESSION")
    assert server.licensing.reads.live_sessions() == []


async def test_extend_without_session_fails_no_active_session(server: Server) -> None:
    _, body = await server.call(
        "extend", licenseToken="LIC-ONE", productCodes=[PRODUCT], authContext="never"
    )
    assert body["reason"] == "NO_ACTIVE_SESSION"


async def test_expired_seat_is_free_for_another_context_at_once(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    server.clock.advance(600)
    assert (await server.activate("LIC-ONE", "h2"))["authStatus"] == "Success"


async def test_sweep_ends_expired_sessions_and_records_reason(server: Server) -> None:
    await server.activate("LIC-THREE", "h1")
    await server.activate("LIC-THREE", "h2")
    server.clock.advance(300)
    await server.activate("LIC-THREE", "h2")  # refreshed: lives on
    server.clock.advance(301)
    assert await server.licensing.upkeep.expire_due() == 1
    assert [s.auth_context for s in server.licensing.reads.live_sessions()] == ["h2"]
    events = await server.licensing.store.audit(after=0, limit=100)
    ended = [e for e in events if e.type == "session.ended"]
    assert [(e.auth_context, e.data["reason"]) for e in ended] == [("h1", "expired")]


async def test_clock_turned_back_refuses_activate_with_clock_tampered(server: Server) -> None:
    await server.activate("LIC-THREE", "h1")
    server.clock.advance(-301)
    body = await server.activate("LIC-THREE", "h2")
    assert (body["authStatus"], body["reason"]) == ("Failed", "CLOCK_TAMPERED")
    server.clock.advance(302)
    assert (await server.activate("LIC-THREE", "h2"))["authStatus"] == "Success"


async def test_activate_after_pool_expiry_fails_pool_expired(server: Server) -> None:
    server.clock.advance(366 * 86400)
    body = await server.activate("LIC-ONE", "h1")
    assert body["reason"] == "POOL_EXPIRED"
