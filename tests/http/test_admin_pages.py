"""Pagination of GET /admin/v1/licenses and /sessions: limit, cursor, filters, next cursor."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

LICENSES = [
    grant(f"L-{n:03d}", seats=10, productCodes=[PRODUCT, "ALPHA" if n % 2 else "BETA"])
    for n in range(25)
]


@pytest.fixture
async def many(make_server: ServerFactory) -> Server:
    return await make_server(LICENSES)


async def _get(server: Server, path: str, **params: Any) -> tuple[int, Any]:
    resp = await server.client.get(path, params=params, headers=server.admin_headers)
    return resp.status, await resp.json()


async def test_licenses_page_through_every_one_once_with_the_cursor(many: Server) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 10}
    for _ in range(5):
        status, doc = await _get(many, "/admin/v1/licenses", **params)
        assert (status, doc["total"]) == (200, 25)
        seen += [lic["token"] for lic in doc["licenses"]]
        if doc["nextCursor"] is None:
            break
        params["cursor"] = doc["nextCursor"]
    assert seen == [f"L-{n:03d}" for n in range(25)]


async def test_licenses_default_to_100_a_page_and_filter_by_product_and_search(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant(f"M-{n:04d}", productCodes=["X"]) for n in range(130)])
    _, first = await _get(server, "/admin/v1/licenses")
    _, beta = await _get(server, "/admin/v1/licenses", product="X,NOPE", q="m-012", limit=5)
    assert (len(first["licenses"]), first["total"], first["nextCursor"] is not None) == (
        100,
        130,
        True,
    )
    assert [lic["token"] for lic in beta["licenses"]] == [f"M-{n:04d}" for n in range(120, 125)]
    assert beta["total"] == 10


async def test_licenses_sort_descending_by_seats_used(many: Server) -> None:
    await many.activate("L-007", "a")
    await many.activate("L-007", "b")
    await many.activate("L-003", "a")
    _, doc = await _get(many, "/admin/v1/licenses", sort="used", dir="desc", limit=3)
    assert [lic["token"] for lic in doc["licenses"]] == ["L-007", "L-003", "L-000"]


async def test_sessions_page_and_filter_by_license_and_auth_context(many: Server) -> None:
    for n in range(5):
        await many.activate("L-001", f"pc-{n}")
    await many.activate("L-002", "pc-0")
    _, page1 = await _get(many, "/admin/v1/sessions", limit=4)
    _, page2 = await _get(many, "/admin/v1/sessions", limit=4, cursor=page1["nextCursor"])
    _, mine = await _get(many, "/admin/v1/sessions", authContext="pc-0", license="L-002")
    ids = [s["id"] for s in page1["sessions"] + page2["sessions"]]
    assert (len(ids), len(set(ids)), page1["total"], page2["nextCursor"]) == (6, 6, 6, None)
    assert [(s["licenseToken"], s["authContext"]) for s in mine["sessions"]] == [("L-002", "pc-0")]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/admin/v1/licenses", {"limit": "0"}, "limit"),
        ("/admin/v1/licenses", {"limit": "1001"}, "limit"),
        ("/admin/v1/licenses", {"limit": "ten"}, "limit"),
        ("/admin/v1/licenses", {"cursor": "not-a-cursor"}, "cursor"),
        ("/admin/v1/licenses", {"cursor": "x" * 5000}, "cursor"),
        ("/admin/v1/licenses", {"sort": "price"}, "sort"),
        ("/admin/v1/licenses", {"dir": "up"}, "dir"),
        ("/admin/v1/licenses", {"type": "subscription"}, "type"),
        ("/admin/v1/licenses", {"q": "x" * 300}, "q"),
        ("/admin/v1/licenses", {"product": "x" * 2000}, "product"),
        ("/admin/v1/sessions", {"limit": "-1"}, "limit"),
        ("/admin/v1/sessions", {"cursor": "eyJ4Ijo"}, "cursor"),
        ("/admin/v1/sessions", {"sort": "token"}, "sort"),
    ],
)
async def test_bad_page_parameters_are_400_with_the_field(
    many: Server, path: str, params: dict[str, str], field: str
) -> None:
    status, problem = await _get(many, path, **params)
    assert (status, problem["code"], problem["field"]) == (400, "VALIDATION_ERROR", field)


async def test_a_cursor_of_another_sort_is_400(many: Server) -> None:
    _, doc = await _get(many, "/admin/v1/licenses", limit=2, sort="seats")
    status, problem = await _get(many, "/admin/v1/licenses", cursor=doc["nextCursor"])
    assert (status, problem["field"]) == (400, "cursor")
