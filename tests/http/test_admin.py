"""The admin API: bearer token required, views of licenses, sessions and the audit log."""

from __future__ import annotations

import pytest

from tests.conftest import Server, ServerFactory


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL (the store contract, end to end)."""
    return both_backends


ADMIN_CALLS = [
    ("GET", "/admin/v1/status"),
    ("POST", "/admin/v1/pool"),
    ("GET", "/admin/v1/licenses"),
    ("GET", "/admin/v1/licenses/LIC-ONE"),
    ("GET", "/admin/v1/sessions"),
    ("DELETE", "/admin/v1/sessions/abc"),
    ("GET", "/admin/v1/audit"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic abc", "Bearer "])
async def test_admin_call_without_valid_token_gives_401_problem(
    server: Server, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    resp = await server.client.request(method, path, headers=headers, data=b"x")
    assert resp.status == 401
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    doc = await resp.json()
    assert (doc["status"], doc["code"]) == (401, "UNAUTHORIZED")


async def test_status_reports_instance_pool_and_sessions(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    resp = await server.client.get("/admin/v1/status", headers=server.admin_headers)
    doc = await resp.json()
    assert doc["instanceId"] == server.instance.instance_id
    assert doc["org"] == {"id": "org-42", "name": "Acme Trading Corp"}
    assert doc["pool"]["seq"] == 1
    assert doc["clock"]["tampered"] is False
    assert (doc["licenses"], doc["liveSessions"]) == (3, 1)


async def test_licenses_and_detail_show_seats_and_sessions(server: Server) -> None:
    await server.activate("LIC-THREE", "h1")
    resp = await server.client.get("/admin/v1/licenses", headers=server.admin_headers)
    rows = {r["token"]: r for r in (await resp.json())["licenses"]}
    assert (rows["LIC-THREE"]["seats"], rows["LIC-THREE"]["liveSessions"]) == (3, 1)
    resp = await server.client.get("/admin/v1/licenses/LIC-THREE", headers=server.admin_headers)
    assert [s["authContext"] for s in (await resp.json())["sessions"]] == ["h1"]
    resp = await server.client.get("/admin/v1/licenses/NOPE", headers=server.admin_headers)
    assert resp.status == 404


async def test_admin_ends_session_frees_seat_and_audits_it(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    resp = await server.client.get(
        "/admin/v1/sessions", params={"license": "LIC-ONE"}, headers=server.admin_headers
    )
    [session] = (await resp.json())["sessions"]
    resp = await server.client.delete(
        f"/admin/v1/sessions/{session['id']}", headers=server.admin_headers
    )
    assert resp.status == 204
    assert (await server.activate("LIC-ONE", "h2"))["authStatus"] == "Success"
    resp = await server.client.get("/admin/v1/audit", headers=server.admin_headers)
    ended = [e for e in (await resp.json())["events"] if e["type"] == "session.ended"]
    assert [(e["authContext"], e["data"]["reason"]) for e in ended] == [("h1", "admin")]


async def test_end_unknown_session_gives_404(server: Server) -> None:
    resp = await server.client.delete("/admin/v1/sessions/nope", headers=server.admin_headers)
    assert resp.status == 404


async def test_audit_pages_oldest_first_with_chained_hashes(server: Server) -> None:
    for i in range(3):
        await server.activate("LIC-THREE", f"h{i}")
    resp = await server.client.get(
        "/admin/v1/audit", params={"after": "1", "limit": "2"}, headers=server.admin_headers
    )
    events = (await resp.json())["events"]
    assert [e["id"] for e in events] == [2, 3]
    assert events[1]["prevHash"] == events[0]["hash"]


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "x"}, {"after": "-1"}])
async def test_audit_bad_paging_gives_400_problem(server: Server, query: dict[str, str]) -> None:
    resp = await server.client.get("/admin/v1/audit", params=query, headers=server.admin_headers)
    assert resp.status == 400


async def test_health_ready_metrics_openapi_need_no_token(server: Server) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        resp = await server.client.get(path)
        assert resp.status == 200, path


async def test_readyz_without_pool_is_503(make_server: ServerFactory) -> None:
    server = await make_server(None)
    resp = await server.client.get("/readyz")
    assert resp.status == 503
    assert "no pool imported" in (await resp.json())["problems"]
