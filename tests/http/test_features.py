"""Feature checkout and return against a real server (api.md §4)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Server, ServerFactory
from tests.pools import grant


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL (the store contract, end to end)."""
    return both_backends


FEATURES: list[dict[str, Any]] = [
    {"code": "EXPORT_PDF", "type": "floating", "count": 3},
    {"code": "API_CALLS", "type": "consumption", "count": 5},
    {"code": "DARK_MODE", "type": "boolean"},
]


@pytest.fixture
async def fserver(make_server: ServerFactory) -> Server:
    return await make_server([grant("FEAT", seats=20, features=FEATURES)])


async def checkout(server: Server, ctx: str, code: str, quantity: Any = 1) -> tuple[int, Any]:
    return await server.call(
        "features/checkout",
        licenseToken="FEAT",
        authContext=ctx,
        featureCode=code,
        quantity=quantity,
    )


async def give_back(server: Server, ctx: str, code: str, quantity: int = 1) -> Any:
    _, body = await server.call(
        "features/return",
        licenseToken="FEAT",
        authContext=ctx,
        featureCode=code,
        quantity=quantity,
    )
    return body


def figures(body: Any) -> tuple[Any, ...]:
    return body["authStatus"], body["quantity"], body["checkedOut"], body["available"]


async def test_checkout_and_return_report_figures_after_each_step(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    status, body = await checkout(fserver, "h1", "EXPORT_PDF", 2)
    assert status == 200
    assert list(body) == [
        "authStatus",
        "featureCode",
        "quantity",
        "checkedOut",
        "available",
        "expiresAt",
        "reason",
        "message",
    ]
    assert figures(body) == ("Success", 2, 2, 1)
    assert body["expiresAt"] is not None
    assert figures((await checkout(fserver, "h1", "EXPORT_PDF", 1))[1]) == ("Success", 1, 3, 0)
    assert figures(await give_back(fserver, "h1", "EXPORT_PDF", 1)) == ("Success", 1, 2, 1)
    assert figures(await give_back(fserver, "h1", "EXPORT_PDF", 10)) == ("Success", 2, 0, 3)
    assert figures(await give_back(fserver, "h1", "EXPORT_PDF", 1)) == ("Success", 0, 0, 3)


async def test_validation_response_lists_features_with_availability(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    await checkout(fserver, "h1", "EXPORT_PDF", 1)
    await checkout(fserver, "h1", "API_CALLS", 2)
    _, body = await fserver.call("validate", licenseToken="FEAT")
    assert body["features"] == [
        {"code": "EXPORT_PDF", "type": "floating", "total": 3, "available": 2},
        {"code": "API_CALLS", "type": "consumption", "total": 5, "available": 3},
        {"code": "DARK_MODE", "type": "boolean", "total": None, "available": None},
    ]


async def test_checkout_beyond_pool_is_exhausted_and_takes_nothing(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    await checkout(fserver, "h1", "EXPORT_PDF", 2)
    _, body = await checkout(fserver, "h1", "EXPORT_PDF", 2)
    assert (body["authStatus"], body["reason"], body["available"]) == (
        "Failed",
        "FEATURE_EXHAUSTED",
        1,
    )
    assert "2 units" in body["message"]


async def test_checkout_unknown_feature_fails_feature_not_found(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    _, body = await checkout(fserver, "h1", "NOPE")
    assert body["reason"] == "FEATURE_NOT_FOUND"


async def test_checkout_without_session_fails_no_active_session(fserver: Server) -> None:
    _, body = await checkout(fserver, "nobody", "EXPORT_PDF")
    assert body["reason"] == "NO_ACTIVE_SESSION"


async def test_boolean_feature_checks_out_as_on_holding_nothing(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    _, body = await checkout(fserver, "h1", "DARK_MODE")
    assert figures(body) == ("Success", 0, 0, None)


async def test_consumption_is_not_returnable(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    await checkout(fserver, "h1", "API_CALLS", 2)
    body = await give_back(fserver, "h1", "API_CALLS", 1)
    assert (body["authStatus"], body["reason"]) == ("Failed", "FEATURE_NOT_RETURNABLE")
    _, v = await fserver.call("validate", licenseToken="FEAT")
    assert v["features"][1]["available"] == 3


async def _held_units(server: Server) -> int:
    _, body = await server.call("validate", licenseToken="FEAT")
    return 3 - int(body["features"][0]["available"])


async def test_deactivate_returns_the_sessions_units(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    await checkout(fserver, "h1", "EXPORT_PDF", 3)
    await fserver.call("deactivate", licenseToken="FEAT", authContext="h1")
    assert await _held_units(fserver) == 0


async def test_expiry_returns_the_sessions_units(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    await checkout(fserver, "h1", "EXPORT_PDF", 3)
    fserver.clock.advance(601)
    await fserver.licensing.upkeep.expire_due()
    assert await _held_units(fserver) == 0


async def test_admin_end_returns_the_sessions_units(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    await checkout(fserver, "h1", "EXPORT_PDF", 2)
    [session] = fserver.licensing.reads.live_sessions()
    await fserver.licensing.end_session(session.id)
    assert await _held_units(fserver) == 0


async def test_revocation_returns_the_sessions_units(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    await checkout(fserver, "h1", "EXPORT_PDF", 2)
    await fserver.import_pool(
        [grant("FEAT", seats=20, features=FEATURES, status="revoked")], iat=fserver.clock.now()
    )
    assert fserver.licensing.state.licenses["FEAT"].in_use == {"EXPORT_PDF": 0}
    await fserver.import_pool([grant("FEAT", seats=20, features=FEATURES)], iat=fserver.clock.now())
    await fserver.activate("FEAT", "h2")
    assert figures((await checkout(fserver, "h2", "EXPORT_PDF", 3))[1]) == ("Success", 3, 3, 0)


@pytest.mark.parametrize("code", ["EXPORT_PDF", "API_CALLS"])
async def test_twenty_concurrent_checkouts_of_three_units_grant_exactly_three(
    make_server: ServerFactory,
    code: str,
) -> None:
    feats = [
        {"code": code, "type": "floating" if code == "EXPORT_PDF" else "consumption", "count": 3}
    ]
    server = await make_server([grant("FEAT", seats=10, features=feats)])
    for i in range(10):
        await server.activate("FEAT", f"h{i}")
    results = await asyncio.gather(*(checkout(server, f"h{i % 10}", code) for i in range(20)))
    statuses = [body["authStatus"] for _, body in results]
    assert statuses.count("Success") == 3
    assert {b["reason"] for _, b in results if b["authStatus"] != "Success"} == {
        "FEATURE_EXHAUSTED"
    }


async def test_shrunk_feature_count_drains_without_cutting(fserver: Server) -> None:
    for ctx in ("h1", "h2", "h3"):
        await fserver.activate("FEAT", ctx)
        await checkout(fserver, ctx, "EXPORT_PDF", 1)
    smaller = [{**FEATURES[0], "count": 1}, *FEATURES[1:]]
    await fserver.import_pool([grant("FEAT", seats=20, features=smaller)], iat=fserver.clock.now())
    assert (await checkout(fserver, "h1", "EXPORT_PDF"))[1]["reason"] == "FEATURE_EXHAUSTED"
    await give_back(fserver, "h1", "EXPORT_PDF")
    await give_back(fserver, "h2", "EXPORT_PDF")
    assert (await checkout(fserver, "h1", "EXPORT_PDF"))[1]["reason"] == "FEATURE_EXHAUSTED"
    await give_back(fserver, "h3", "EXPORT_PDF")
    assert (await checkout(fserver, "h1", "EXPORT_PDF"))[1]["authStatus"] == "Success"


async def test_consumption_carries_over_a_newer_pool(fserver: Server) -> None:
    await fserver.activate("FEAT", "h1")
    await checkout(fserver, "h1", "API_CALLS", 4)
    bigger = [FEATURES[0], {**FEATURES[1], "count": 10}, FEATURES[2]]
    await fserver.import_pool([grant("FEAT", seats=20, features=bigger)], iat=fserver.clock.now())
    _, body = await checkout(fserver, "h1", "API_CALLS", 6)
    assert figures(body) == ("Success", 6, 0, 0)
    _, body = await checkout(fserver, "h1", "API_CALLS", 1)
    assert body["reason"] == "FEATURE_EXHAUSTED"


@pytest.mark.parametrize("quantity", [0, -1, 1_000_001, "2", 1.5, None, True])
async def test_bad_quantity_gives_400_and_changes_nothing(fserver: Server, quantity: Any) -> None:
    await fserver.activate("FEAT", "h1")
    status, body = await checkout(fserver, "h1", "EXPORT_PDF", quantity)
    assert status == 400
    assert (body["code"], body["field"]) == ("VALIDATION_ERROR", "quantity")
    assert await _held_units(fserver) == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"licenseToken": "FEAT", "authContext": "h1"},
        {"licenseToken": "FEAT", "authContext": "h1", "featureCode": 5},
    ],
)
async def test_bad_feature_body_gives_400(fserver: Server, body: dict[str, Any]) -> None:
    resp = await fserver.client.post("/licensing/features/checkout", json=body)
    assert resp.status == 400
