"""The seat policy enforced on a real server: activate, feature checkout, offline activation,
under real concurrent requests, and across reloads (issue 16 §1)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from lls.cli.table import render_table
from lls.cli.view_render import LICENSE_COLUMNS, render_license
from lls.sealed import KeyPair
from tests.conftest import Server, ServerFactory
from tests.http.test_offline import request_token
from tests.http.ui_kit import as_admin
from tests.pools import PRODUCT, grant

POLICY = """\
groups:
  lab:         {authContexts: ["lab-*"]}
  contractors: {authContexts: ["ext-*"]}
  blocked:     {authContexts: ["stolen-*"]}
  local:       {networks: ["127.0.0.0/8"]}
  faraway:     {networks: ["10.9.0.0/16"]}
rules:
  - name: trio
    licenses: [KEY-TRIO]
    reserve: {lab: 3}
    max:     {contractors: 2}
    exclude: [blocked]
    features:
      EXPORT_PDF: {reserve: {lab: 2}, max: {contractors: 1}}
  - name: only-lab
    licenses: [KEY-LAB]
    include: [lab]
  - name: near
    licenses: [KEY-NEAR]
    max: {local: 1}
  - name: far
    licenses: [KEY-FAR]
    include: [faraway]
"""
LICENSES = [
    grant(
        "KEY-TRIO",
        id="trio",
        seats=10,
        features=[{"code": "EXPORT_PDF", "type": "floating", "count": 6}],
    ),
    grant("KEY-LAB", seats=5),
    grant("KEY-NEAR", seats=5),
    grant("KEY-FAR", seats=5),
]


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
async def server(make_server: ServerFactory, policy_file: Path) -> Server:
    return await make_server(LICENSES, policy_file=str(policy_file))


async def activate(server: Server, token: str, ctx: str) -> dict[str, Any]:
    status, body = await server.call(
        "activate", licenseToken=token, productCodes=[PRODUCT], authContext=ctx
    )
    assert status == 200, body
    return dict(body)


async def checkout(server: Server, ctx: str, quantity: int = 1) -> dict[str, Any]:
    status, body = await server.call(
        "features/checkout",
        licenseToken="KEY-TRIO",
        authContext=ctx,
        featureCode="EXPORT_PDF",
        quantity=quantity,
    )
    assert status == 200, body
    return dict(body)


def holders(server: Server, token: str) -> list[str]:
    return sorted(server.licensing.state.licenses[token].sessions)


async def test_forty_concurrent_activates_leave_exactly_the_reserved_seats_to_lab(
    server: Server,
) -> None:
    # 40 devices of other groups and none rush 10 seats at once: 3 are kept for lab,
    # contractors get at most 2 of the 7 others.
    devices = [f"ext-{i}" for i in range(15)] + [f"pc-{i}" for i in range(25)]
    random.Random(16).shuffle(devices)
    answers = await asyncio.gather(*(activate(server, "KEY-TRIO", d) for d in devices))
    won = [d for d, a in zip(devices, answers, strict=True) if a["authStatus"] == "Success"]
    reasons = {a["reason"] for a in answers if a["authStatus"] != "Success"}
    assert len(won) == 7 and sum(d.startswith("ext-") for d in won) <= 2
    assert reasons <= {"SEAT_RESERVED", "GROUP_LIMIT_REACHED"} and "SEAT_RESERVED" in reasons
    refused = next(a for a in answers if a["reason"] == "SEAT_RESERVED")
    assert refused["message"] == "the free seats of trio are reserved for lab"
    # The three reserved seats are there for lab, and only those.
    lab = await asyncio.gather(*(activate(server, "KEY-TRIO", f"lab-{i}") for i in range(5)))
    assert [a["authStatus"] for a in lab].count("Success") == 3
    assert {a["reason"] for a in lab if a["authStatus"] != "Success"} == {"SESSION_LIMIT_REACHED"}
    assert len(holders(server, "KEY-TRIO")) == 10


async def test_max_per_group_holds_under_races(server: Server) -> None:
    answers = await asyncio.gather(
        *(activate(server, "KEY-TRIO", f"ext-{i}") for i in range(20)),
        *(activate(server, "KEY-TRIO", f"lab-{i}") for i in range(20)),
    )
    contractors = [h for h in holders(server, "KEY-TRIO") if h.startswith("ext-")]
    assert len(contractors) == 2 and len(holders(server, "KEY-TRIO")) == 10
    capped = [a for a in answers if a["reason"] == "GROUP_LIMIT_REACHED"]
    assert capped and capped[0]["message"] == "contractors already hold 2 of 2 seats"


async def test_excluded_and_include_only_groups(server: Server) -> None:
    excluded = await activate(server, "KEY-TRIO", "stolen-pc")
    assert (excluded["reason"], excluded["message"]) == (
        "EXCLUDED_BY_POLICY",
        "blocked may not use trio",
    )
    outsider = await activate(server, "KEY-LAB", "pc-1")
    assert (outsider["reason"], outsider["message"]) == (
        "EXCLUDED_BY_POLICY",
        "only lab may use this license",
    )
    assert (await activate(server, "KEY-LAB", "lab-1"))["authStatus"] == "Success"
    assert holders(server, "KEY-LAB") == ["lab-1"]


async def test_groups_by_network_use_the_clients_address(server: Server) -> None:
    # The test client calls from 127.0.0.1: in `local`, never in `faraway`.
    first = await activate(server, "KEY-NEAR", "pc-1")
    second = await activate(server, "KEY-NEAR", "pc-2")
    assert first["authStatus"] == "Success"
    assert (second["reason"], second["message"]) == (
        "GROUP_LIMIT_REACHED",
        "local already hold 1 of 1 seats",
    )
    far = await activate(server, "KEY-FAR", "pc-1")
    assert far["reason"] == "EXCLUDED_BY_POLICY"


async def test_feature_units_keep_the_reserve_and_the_cap_under_races(server: Server) -> None:
    sessions = [f"ext-{i}" for i in range(2)] + [f"pc-{i}" for i in range(5)]
    sessions += [f"lab-{i}" for i in range(3)]
    for ctx in sessions:
        assert (await activate(server, "KEY-TRIO", ctx))["authStatus"] == "Success"
    others = [c for c in sessions if not c.startswith("lab-")]
    answers = await asyncio.gather(*(checkout(server, c) for c in others))
    took = [c for c, a in zip(others, answers, strict=True) if a["authStatus"] == "Success"]
    # 6 units, 2 kept for lab, contractors at most 1: exactly 4 for the others.
    assert len(took) == 4 and sum(c.startswith("ext-") for c in took) <= 1
    reasons = {a["reason"] for a in answers if a["authStatus"] != "Success"}
    assert reasons <= {"SEAT_RESERVED", "GROUP_LIMIT_REACHED"}
    reserved = [a for a in answers if a["reason"] == "SEAT_RESERVED"]
    assert reserved[0]["message"] == "the free EXPORT_PDF units of trio are reserved for lab"
    lab = await asyncio.gather(*(checkout(server, f"lab-{i}") for i in range(3)))
    assert [a["authStatus"] for a in lab].count("Success") == 2
    assert server.licensing.state.licenses["KEY-TRIO"].in_use["EXPORT_PDF"] == 6


async def test_a_reload_never_ends_a_live_session_it_only_governs_the_next(
    server: Server, policy_file: Path
) -> None:
    for ctx in ("ext-1", "ext-2", "pc-1"):
        assert (await activate(server, "KEY-TRIO", ctx))["authStatus"] == "Success"
    policy_file.write_text(
        POLICY.replace("max:     {contractors: 2}", "max:     {contractors: 0}").replace(
            "exclude: [blocked]", "exclude: [blocked, contractors]"
        )
    )
    resp = await server.client.post("/admin/v1/policy/reload", headers=server.admin_headers)
    assert resp.status == 200, await resp.text()
    assert holders(server, "KEY-TRIO") == ["ext-1", "ext-2", "pc-1"]
    # Their refresh and extend are not grants: never refused by the new policy.
    assert (await activate(server, "KEY-TRIO", "ext-1"))["authStatus"] == "Success"
    status, extended = await server.call(
        "extend", licenseToken="KEY-TRIO", productCodes=[PRODUCT], authContext="ext-2"
    )
    assert (status, extended["authStatus"]) == (200, "Success")
    assert (await activate(server, "KEY-TRIO", "ext-3"))["reason"] == "EXCLUDED_BY_POLICY"


async def test_a_shrinking_pool_keeps_sessions_and_the_reserve_governs_the_next(
    server: Server,
) -> None:
    for i in range(6):
        assert (await activate(server, "KEY-TRIO", f"pc-{i}"))["authStatus"] == "Success"
    smaller = [dict(lic) for lic in LICENSES]
    smaller[0]["seats"] = 7
    status, body = await server.import_pool(smaller)
    assert status == 200, body
    assert len(holders(server, "KEY-TRIO")) == 6
    # 1 seat free, 3 reserved for lab and none met: nobody else gets it, lab does.
    assert (await activate(server, "KEY-TRIO", "pc-9"))["reason"] == "SEAT_RESERVED"
    assert (await activate(server, "KEY-TRIO", "lab-1"))["authStatus"] == "Success"


async def test_without_a_policy_nothing_is_refused_by_one(make_server: ServerFactory) -> None:
    server = await make_server(LICENSES)
    answers = await asyncio.gather(*(activate(server, "KEY-TRIO", f"ext-{i}") for i in range(10)))
    assert [a["authStatus"] for a in answers] == ["Success"] * 10


async def test_admin_cli_and_dashboard_show_reserved_and_group_usage(server: Server) -> None:
    for ctx in ("lab-1", "ext-1", "ext-2", "pc-1"):
        await activate(server, "KEY-TRIO", ctx)
    await checkout(server, "ext-1")
    resp = await server.client.get("/admin/v1/licenses", headers=server.admin_headers)
    docs = {d["token"]: d for d in (await resp.json())["licenses"]}
    assert docs["KEY-TRIO"]["policy"] == {
        "rules": ["trio"],
        "reserved": 2,
        "groups": {"lab": 1, "contractors": 2, "blocked": 0},
        "features": [
            {
                "code": "EXPORT_PDF",
                "count": 6,
                "inUse": 1,
                "groups": {"lab": 0, "contractors": 1, "blocked": 0},
            }
        ],
    }
    assert docs["KEY-LAB"]["policy"]["groups"] == {"lab": 0}
    table = render_table(list(docs.values()), LICENSE_COLUMNS)
    assert "RESERVED" in table[0] and "GROUPS" in table[0]
    trio_row = next(line for line in table if line.startswith("KEY-TRIO"))
    assert "lab 1, contractors 2, blocked 0" in trio_row
    resp = await server.client.get("/admin/v1/licenses/KEY-TRIO", headers=server.admin_headers)
    shown = render_license(await resp.json())
    assert "reserved free: 2" in [" ".join(line.split()) for line in shown]
    await as_admin(server)
    html = await (await server.client.get("/ui/licenses/KEY-TRIO")).text()
    assert "Seat policy" in html and "2 free seats kept for reservations not yet met" in html
    assert '<td>contractors</td><td class="num">2</td>' in html


async def test_offline_activation_consults_the_policy_and_counts_as_a_held_seat(
    server: Server,
) -> None:
    async def offline(ctx: str) -> tuple[int, Any]:
        token = request_token(server, KeyPair.generate(), license_token="KEY-TRIO", ctx=ctx)
        resp = await server.client.post(
            "/admin/v1/offline/activate", json={"token": token}, headers=server.admin_headers
        )
        return resp.status, await resp.json()

    status, problem = await offline("stolen-laptop")
    assert (status, problem["code"]) == (422, "EXCLUDED_BY_POLICY")
    assert problem["detail"] == "blocked may not use trio"
    assert (await offline("ext-laptop-1"))[0] == 200
    assert (await offline("ext-laptop-2"))[0] == 200
    status, problem = await offline("ext-laptop-3")
    assert (status, problem["code"]) == (422, "GROUP_LIMIT_REACHED")
    # The two offline seats count for contractors online too.
    assert (await activate(server, "KEY-TRIO", "ext-online"))["reason"] == "GROUP_LIMIT_REACHED"
