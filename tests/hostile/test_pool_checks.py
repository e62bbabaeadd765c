"""Point 8 of issue 10: a pool signed by the pinned key is still checked, and refused whole."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import DEFAULT_LICENSES, Server, ServerFactory
from tests.pools import grant, make_pool, pool_payload, seal_doc


async def _post(server: Server, raw: str) -> tuple[int, Any]:
    resp = await server.client.post("/admin/v1/pool", data=raw, headers=server.admin_headers)
    return resp.status, await resp.json()


async def _licenses(server: Server) -> Any:
    resp = await server.client.get("/admin/v1/licenses", headers=server.admin_headers)
    return await resp.json()


def _pool(server: Server, licenses: list[dict[str, Any]], **kw: Any) -> str:
    return make_pool(server.vendor, server.instance, licenses, seq=5, iat=server.clock.now(), **kw)


FEATURE = {"code": "PDF", "type": "floating", "count": 2}

CASES: dict[str, tuple[str, str]] = {
    # name: (code, words the reason must contain)
    "other_issuer": ("POOL_WRONG_ISSUER", "'vendor:someone-else'"),
    "duplicate_token": ("POOL_INVALID", "DUP-TOKEN"),
    "duplicate_feature": ("POOL_INVALID", "feature PDF"),
    "window_too_short": ("BAD_PAYLOAD", "SHORT-WINDOW"),
    "window_too_long": ("BAD_PAYLOAD", "LONG-WINDOW"),
}


def _bad(kind: str, server: Server) -> str:
    match kind:
        case "other_issuer":
            return _pool(server, [grant("NEW")], vendor_id="vendor:someone-else")
        case "duplicate_token":
            return _pool(server, [grant("A"), grant("DUP-TOKEN"), grant("DUP-TOKEN", seats=9)])
        case "duplicate_feature":
            return _pool(
                server, [grant("A"), grant("TWICE", features=[FEATURE, {**FEATURE, "count": 9}])]
            )
        case "window_too_short":
            return _pool(server, [grant("A"), grant("SHORT-WINDOW", sessionWindowSeconds=9)])
        case "window_too_long":
            return _pool(server, [grant("LONG-WINDOW", sessionWindowSeconds=2_592_001)])
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_pool_breaking_a_check_is_refused_whole_with_a_reason_naming_it(
    server: Server, kind: str
) -> None:
    before = await _licenses(server)

    status, problem = await _post(server, _bad(kind, server))

    code, words = CASES[kind]
    assert status == 422, problem
    assert problem["code"] == code
    assert words in problem["detail"]
    assert await _licenses(server) == before


async def test_duplicate_feature_reason_names_its_license(server: Server) -> None:
    status, problem = await _post(server, _bad("duplicate_feature", server))

    assert status == 422
    assert "TWICE" in problem["detail"]


@pytest.mark.parametrize("window", [10, 2_592_000])
async def test_session_window_at_its_bounds_is_accepted(
    make_server: ServerFactory, window: int
) -> None:
    server = await make_server(None)

    status, summary = await _post(
        server, _pool(server, [grant("EDGE", sessionWindowSeconds=window)])
    )

    assert status == 200, summary


async def test_pool_of_the_pinned_issuer_is_accepted(make_server: ServerFactory) -> None:
    server = await make_server(None)
    doc = pool_payload(server.instance, DEFAULT_LICENSES, seq=2, iat=server.clock.now())

    status, _ = await _post(
        server,
        seal_doc(doc, signer=server.vendor.keys, recipient=server.instance.keys.public()),
    )

    assert status == 200
