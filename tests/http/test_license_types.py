"""Node-locked, temporary, organisation-bound environments and misuse locking."""

from __future__ import annotations

from typing import Any

import pytest

from lls.clock import rfc3339
from tests.conftest import Server, ServerFactory
from tests.pools import grant


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL (the store contract, end to end)."""
    return both_backends


DAY = 86_400


async def admin(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    resp = await server.client.request(
        method, f"/admin/v1{path}", json=body, headers=server.admin_headers
    )
    return resp.status, await resp.json() if resp.status != 204 else None


async def test_node_locked_binds_first_context_refuses_others_until_dissociated(
    make_server: ServerFactory,
) -> None:
    server: Server = await make_server([grant("NODE", type="node-locked", seats=1)])
    assert (await server.activate("NODE", "pc-1"))["authStatus"] == "Success"
    await server.call("deactivate", licenseToken="NODE", authContext="pc-1")
    refused = await server.activate("NODE", "pc-2")
    assert (refused["authStatus"], refused["reason"]) == ("Failed", "NODE_LOCKED")
    _, body = await server.call("validate", licenseToken="NODE", authContext="pc-2")
    assert body["reason"] == "NODE_LOCKED"
    status, doc = await admin(server, "POST", "/licenses/NODE/dissociate", {"authContext": "pc-1"})
    assert (status, doc["dissociated"]) == (200, "pc-1")
    assert (await server.activate("NODE", "pc-2"))["authStatus"] == "Success"
    assert (await server.activate("NODE", "pc-1"))["reason"] == "NODE_LOCKED"
    _, audit = await admin(server, "GET", "/audit")
    kinds = [
        (e["type"], e["authContext"]) for e in audit["events"] if e["type"].startswith("license.")
    ]
    assert kinds == [
        ("license.bound", "pc-1"),
        ("license.dissociated", "pc-1"),
        ("license.bound", "pc-2"),
    ]


async def test_dissociate_ends_the_bound_session_and_checks_context(
    make_server: ServerFactory,
) -> None:
    server: Server = await make_server([grant("NODE", type="node-locked")])
    await server.activate("NODE", "pc-1")
    status, doc = await admin(server, "POST", "/licenses/NODE/dissociate", {"authContext": "pc-9"})
    assert (status, doc["code"]) == (422, "NOT_BOUND")
    status, _ = await admin(server, "POST", "/licenses/NODE/dissociate")
    assert status == 200
    assert server.licensing.reads.live_sessions() == []


async def test_temporary_license_runs_its_days_from_first_activation(
    make_server: ServerFactory,
) -> None:
    server: Server = await make_server(
        [grant("TMP", type="temporary", temporaryDays=3, seats=2)], guess_limit=1000
    )
    server.clock.advance(10 * DAY)  # the window starts at first use, not at issue
    start = server.clock.now()
    first = await server.activate("TMP", "impl-1")
    assert first["authStatus"] == "Success"
    assert first["licenseExpiresAt"] == rfc3339(start + 3 * DAY)
    server.clock.advance(3 * DAY - 60)
    assert (await server.activate("TMP", "impl-2"))["authStatus"] == "Success"
    server.clock.advance(61)
    expired = await server.activate("TMP", "impl-3")
    assert (expired["reason"], expired["licenseExpiresAt"]) == (
        "LICENSE_EXPIRED",
        rfc3339(start + 3 * DAY),
    )


async def test_environment_bound_to_first_org_refuses_other_org_but_not_temporary(
    make_server: ServerFactory,
) -> None:
    server: Server = await make_server(
        [
            grant("ORG1", orgId="org-1", seats=5),
            grant("ORG2", orgId="org-2", seats=5),
            grant("IMPL", orgId="org-9", type="temporary", temporaryDays=30, seats=5),
        ]
    )
    assert (await server.activate("ORG1", "env-a"))["authStatus"] == "Success"
    await server.call("deactivate", licenseToken="ORG1", authContext="env-a")
    refused = await server.activate("ORG2", "env-a")
    assert (refused["reason"], refused["message"]) == (
        "ENVIRONMENT_OF_OTHER_ORG",
        "This environment is bound to another organisation",
    )
    assert (await server.activate("IMPL", "env-a"))["authStatus"] == "Success"
    assert (await server.activate("ORG2", "env-b"))["authStatus"] == "Success"
    status, doc = await admin(server, "DELETE", "/environments/env-a")
    assert (status, doc["released"]) == (200, "org-1")
    assert (await server.activate("ORG2", "env-a"))["authStatus"] == "Success"
    assert (await server.activate("ORG1", "env-a"))["reason"] == "ENVIRONMENT_OF_OTHER_ORG"


async def test_misuse_locks_at_activate_and_admin_unlocks(make_server: ServerFactory) -> None:
    server: Server = await make_server(
        [grant("SHARE", seats=1, misuse={"maxAuthContexts": 3, "windowSeconds": 3600})]
    )
    for i in range(3):
        assert (await server.activate("SHARE", f"pc-{i}"))["authStatus"] in {"Success", "Failed"}
        await server.call("deactivate", licenseToken="SHARE", authContext=f"pc-{i}")
    locked = await server.activate("SHARE", "pc-3")
    assert (locked["authStatus"], locked["reason"]) == ("Locked", "LICENSE_LOCKED")
    _, body = await server.call("validate", licenseToken="SHARE")
    assert body["authStatus"] == "Locked"
    assert (await server.activate("SHARE", "pc-0"))["authStatus"] == "Locked"
    status, _ = await admin(server, "POST", "/licenses/SHARE/unlock")
    assert status == 200
    assert (await server.activate("SHARE", "pc-0"))["authStatus"] == "Success"
    _, audit = await admin(server, "GET", "/audit")
    assert [e["type"] for e in audit["events"] if e["type"].startswith("license.")] == [
        "license.locked",
        "license.unlocked",
    ]


async def test_misuse_outside_the_window_does_not_lock(make_server: ServerFactory) -> None:
    server: Server = await make_server(
        [grant("SHARE", seats=1, misuse={"maxAuthContexts": 2, "windowSeconds": 600})]
    )
    for i in range(5):
        body = await server.activate("SHARE", f"pc-{i}")
        assert body["authStatus"] == "Success", body
        await server.call("deactivate", licenseToken="SHARE", authContext=f"pc-{i}")
        server.clock.advance(601)


async def test_misuse_job_locks_from_the_audit_log(make_server: ServerFactory) -> None:
    server: Server = await make_server([grant("SHARE", seats=10)])
    for i in range(4):
        await server.activate("SHARE", f"pc-{i}")
    # The vendor tightens the rule; the job sees the four machines already recorded.
    await server.import_pool(
        [grant("SHARE", seats=10, misuse={"maxAuthContexts": 3, "windowSeconds": 3600})],
        iat=server.clock.now(),
    )
    assert await server.licensing.upkeep.detect_misuse() == ["SHARE"]
    _, body = await server.call("validate", licenseToken="SHARE")
    assert (body["authStatus"], body["reason"]) == ("Locked", "LICENSE_LOCKED")


async def test_unlock_of_unlocked_license_is_refused(server: Server) -> None:
    status, doc = await admin(server, "POST", "/licenses/LIC-ONE/unlock")
    assert (status, doc["code"]) == (422, "NOT_LOCKED")
    status, _ = await admin(server, "POST", "/licenses/NOPE/unlock")
    assert status == 404
