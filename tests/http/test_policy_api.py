"""`GET /admin/v1/policy` and `POST /admin/v1/policy/reload` on a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.pools import grant

POLICY = """\
groups:
  lab:         {authContexts: ["lab-*"], networks: ["10.1.2.0/24"]}
  contractors: {authContexts: ["ext-*"]}
rules:
  - name: trio
    licenses: [KEY-TRIO]
    reserve: {lab: 1}
    max: {contractors: 1}
    features:
      EXPORT_PDF: {reserve: {lab: 1}}
"""
LICENSES = [
    grant("KEY-TRIO", seats=3, features=[{"code": "EXPORT_PDF", "type": "floating", "count": 2}]),
    grant("KEY-SOLO", seats=1),
]


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


async def admin(server: Any, method: str, path: str) -> tuple[int, Any]:
    resp = await server.client.request(method, path, headers=server.admin_headers)
    return resp.status, await resp.json()


async def test_show_without_policy_answers_nulls(make_server: ServerFactory) -> None:
    server = await make_server(LICENSES)
    status, doc = await admin(server, "GET", "/admin/v1/policy")
    assert status == 200
    assert doc == {
        "file": None,
        "loadedAt": None,
        "sha256": None,
        "groups": [],
        "rules": [],
        "warnings": [],
        "licenses": [],
    }


async def test_show_lists_what_each_group_holds_now(
    make_server: ServerFactory, policy_file: Path
) -> None:
    server = await make_server(LICENSES, policy_file=str(policy_file))
    for ctx in ("lab-1", "ext-1", "pc-1"):
        await server.activate("KEY-TRIO", ctx)
    status, doc = await admin(server, "GET", "/admin/v1/policy")
    assert status == 200 and doc["file"] == str(policy_file)
    assert [g["name"] for g in doc["groups"]] == ["lab", "contractors"]
    assert doc["rules"][0]["governs"] == 1 and doc["rules"][0]["line"] == 5
    (trio,) = doc["licenses"]
    assert (trio["token"], trio["name"], trio["seats"], trio["held"]) == (
        "KEY-TRIO",
        "this license",
        3,
        3,
    )
    assert trio["groups"] == {"lab": 1, "contractors": 1} and trio["reserved"] == 0
    assert trio["features"] == [
        {"code": "EXPORT_PDF", "count": 2, "inUse": 0, "groups": {"lab": 0, "contractors": 0}}
    ]


async def test_show_reports_seats_kept_for_an_unmet_reservation(
    make_server: ServerFactory, policy_file: Path
) -> None:
    server = await make_server(LICENSES, policy_file=str(policy_file))
    await server.activate("KEY-TRIO", "pc-1")
    _, doc = await admin(server, "GET", "/admin/v1/policy")
    assert doc["licenses"][0]["reserved"] == 1


async def test_reload_with_bad_file_is_refused_with_its_line_and_keeps_the_policy(
    make_server: ServerFactory, policy_file: Path
) -> None:
    server = await make_server(LICENSES, policy_file=str(policy_file))
    _, before = await admin(server, "GET", "/admin/v1/policy")
    policy_file.write_text(POLICY.replace("max: {contractors: 1}", "max: {contractors: -1}"))
    status, problem = await admin(server, "POST", "/admin/v1/policy/reload")
    _, after = await admin(server, "GET", "/admin/v1/policy")
    assert (status, problem["code"]) == (422, "POLICY_INVALID")
    assert (
        problem["detail"]
        == f"{policy_file} line 8: max contractors of rule trio must be 0 or more, not -1"
    )
    assert after["sha256"] == before["sha256"]


async def test_reload_with_good_file_applies_it_and_cuts_no_session(
    make_server: ServerFactory, policy_file: Path
) -> None:
    server = await make_server(LICENSES, policy_file=str(policy_file))
    await server.activate("KEY-TRIO", "ext-1")
    await server.activate("KEY-TRIO", "lab-1")
    policy_file.write_text(POLICY.replace("max: {contractors: 1}", "max: {contractors: 0}"))
    status, doc = await admin(server, "POST", "/admin/v1/policy/reload")
    _, sessions = await admin(server, "GET", "/admin/v1/sessions")
    assert status == 200 and doc["changed"] is True and doc["rules"][0]["max"] == {"contractors": 0}
    assert doc["licenses"][0]["groups"] == {"lab": 1, "contractors": 1}
    assert sorted(s["authContext"] for s in sessions["sessions"]) == ["ext-1", "lab-1"]


async def test_reload_of_the_same_file_says_unchanged(
    make_server: ServerFactory, policy_file: Path
) -> None:
    server = await make_server(LICENSES, policy_file=str(policy_file))
    status, doc = await admin(server, "POST", "/admin/v1/policy/reload")
    assert (status, doc["changed"]) == (200, False)


async def test_reload_without_policy_file_is_refused_with_what_to_do(
    make_server: ServerFactory,
) -> None:
    server = await make_server(LICENSES)
    status, problem = await admin(server, "POST", "/admin/v1/policy/reload")
    assert (status, problem["code"]) == (422, "NO_POLICY_FILE")


async def test_policy_endpoints_need_the_admin_token(
    make_server: ServerFactory, policy_file: Path
) -> None:
    server = await make_server(LICENSES, policy_file=str(policy_file))
    statuses = [
        (await server.client.get("/admin/v1/policy")).status,
        (await server.client.post("/admin/v1/policy/reload")).status,
    ]
    assert statuses == [401, 401]


async def test_settings_reload_rereads_the_policy_file(
    aiohttp_client: Any, instance: Any, tmp_path: Path, policy_file: Path
) -> None:
    from lls.app.wiring import build_app
    from lls.config.load import load_config
    from lls.config.settings import Config

    config_file = tmp_path / "lls.yaml"
    config_file.write_text(f"admin:\n  port: 0\npolicy:\n  file: {policy_file}\n")  # one listener

    def reread() -> Config:
        return load_config(config_file, env={}, flags={"data_dir": instance.data_dir})

    client = await aiohttp_client(
        build_app(reread(), instance=instance, run_jobs=False, reread=reread)
    )
    headers = {"Authorization": f"Bearer {instance.admin_token}"}
    policy_file.write_text(
        POLICY.replace("reserve: {lab: 1}\n    max", "reserve: {lab: 2}\n    max")
    )
    reloaded = await client.post("/admin/v1/reload", headers=headers)
    shown = await (await client.get("/admin/v1/policy", headers=headers)).json()
    assert reloaded.status == 200 and shown["rules"][0]["reserve"] == {"lab": 2}
