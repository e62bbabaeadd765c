"""Pool import through the admin API: every refusal names its reason and changes nothing."""

from __future__ import annotations

import io
import logging
import sqlite3
from typing import Any

import pytest
from aiohttp import web

from lls.app.wiring import build_app
from lls.config.settings import Config
from lls.errors import Refused
from lls.sealed import KeyPair
from lls.sealed.payloads import TYP_USAGE
from tests.conftest import DEFAULT_LICENSES, Server, ServerFactory
from tests.pools import grant, make_pool, pool_payload, seal_doc


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL (the store contract, end to end)."""
    return both_backends


@pytest.fixture
def sqlite_only(store_backend: str) -> None:
    """A test that reads or edits the SQLite file itself (test_ha covers PostgreSQL)."""
    if store_backend != "sqlite":
        pytest.skip("edits the SQLite file directly")


async def _state(server: Server) -> tuple[Any, Any, Any]:
    status = await (
        await server.client.get("/admin/v1/status", headers=server.admin_headers)
    ).json()
    licenses = await (
        await server.client.get("/admin/v1/licenses", headers=server.admin_headers)
    ).json()
    audit = await (await server.client.get("/admin/v1/audit", headers=server.admin_headers)).json()
    return status, licenses, audit


async def _post(server: Server, raw: str | bytes) -> tuple[int, Any]:
    resp = await server.client.post("/admin/v1/pool", data=raw, headers=server.admin_headers)
    return resp.status, await resp.json()


def _flip(raw: str, at: int) -> str:
    return raw[:at] + ("A" if raw[at] != "A" else "B") + raw[at + 1 :]


REFUSALS = {
    "tampered": "NOT_FOR_THIS_RECIPIENT",
    "replayed": "POOL_NOT_NEWER",
    "older_seq": "POOL_NOT_NEWER",
    "other_instance_key": "NOT_FOR_THIS_RECIPIENT",
    "other_instance_aud": "POOL_WRONG_INSTANCE",
    "foreign_signed": "BAD_SIGNATURE",
    "future_dated": "POOL_FROM_THE_FUTURE",
    "expired": "POOL_EXPIRED",
    "other_org": "POOL_OTHER_ORG",
    "garbage": "BAD_ENVELOPE",
    "wrong_typ": "WRONG_TYP",
    "duplicate_token": "POOL_INVALID",
    "bad_license_id": "POOL_INVALID",
    "duplicate_license_id": "POOL_INVALID",
    "bad_payload": "BAD_PAYLOAD",
}


def _bad_pool(kind: str, server: Server, first: str) -> str:
    inst, vendor, now = server.instance, server.vendor, server.clock.now()
    lic = [grant("NEW")]
    match kind:
        case "tampered":
            good = make_pool(vendor, inst, lic, seq=5, iat=now)
            return _flip(good, len(good) - 30)
        case "replayed":
            return first
        case "older_seq":
            return make_pool(vendor, inst, lic, seq=1, iat=now)
        case "other_instance_key":
            doc = pool_payload(inst, lic, seq=5, iat=now)
            return seal_doc(doc, signer=vendor.keys, recipient=KeyPair.generate().public())
        case "other_instance_aud":
            return make_pool(vendor, inst, lic, seq=5, iat=now, aud="lls-someone-else")
        case "foreign_signed":
            doc = pool_payload(inst, lic, seq=5, iat=now)
            return seal_doc(doc, signer=KeyPair.generate(), recipient=inst.keys.public())
        case "future_dated":
            return make_pool(vendor, inst, lic, seq=5, iat=now + 3600)
        case "expired":
            return make_pool(vendor, inst, lic, seq=5, iat=now - 7200, exp=now - 60)
        case "other_org":
            return make_pool(vendor, inst, lic, seq=5, iat=now, org="org-other")
        case "garbage":
            return "this is not a pool file"
        case "wrong_typ":
            doc = pool_payload(inst, lic, seq=5, iat=now)
            return seal_doc(doc, signer=vendor.keys, recipient=inst.keys.public(), typ=TYP_USAGE)
        case "duplicate_token":
            return make_pool(vendor, inst, [grant("D"), grant("D")], seq=5, iat=now)
        case "bad_license_id":
            return make_pool(vendor, inst, [grant("A", id="two words")], seq=5, iat=now)
        case "duplicate_license_id":
            named = [grant("A", id="cad"), grant("B", id="cad")]
            return make_pool(vendor, inst, named, seq=5, iat=now)
        case "bad_payload":
            doc = pool_payload(inst, [{"token": "X", "seats": "many"}], seq=5, iat=now)
            return seal_doc(doc, signer=vendor.keys, recipient=inst.keys.public())
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", sorted(REFUSALS))
async def test_bad_pool_is_refused_with_reason_and_state_unchanged(
    make_server: ServerFactory,
    kind: str,
) -> None:
    server: Server = await make_server(None)
    first = make_pool(
        server.vendor, server.instance, DEFAULT_LICENSES, seq=3, iat=server.clock.now()
    )
    assert (await _post(server, first))[0] == 200
    await server.activate("LIC-ONE", "h1")
    before = await _state(server)
    status, problem = await _post(server, _bad_pool(kind, server, first))
    assert status == 422, problem
    assert problem["code"] == REFUSALS[kind]
    assert problem["detail"]
    assert await _state(server) == before


@pytest.mark.parametrize(
    ("licenses", "named"),
    [
        ([grant("A", id="two words")], "'two words' (licenses[0])"),
        ([grant("A", id="x" * 65)], "licenses[0]"),
        ([grant("A", id="cad"), grant("B"), grant("C", id="cad")], "'cad'"),
    ],
)
async def test_pool_with_a_bad_or_duplicate_license_id_is_refused_naming_it(
    server: Server, licenses: list[dict[str, Any]], named: str
) -> None:
    status, problem = await server.import_pool(licenses, iat=server.clock.now())
    assert (status, problem["code"]) == (422, "POOL_INVALID")
    assert named in problem["detail"]


async def test_license_documents_carry_the_pool_id(server: Server) -> None:
    await server.import_pool([grant("LIC-ONE", id="cad-floor-2"), grant("LIC-TWO")])
    resp = await server.client.get("/admin/v1/licenses", headers=server.admin_headers)
    docs = {d["token"]: d for d in (await resp.json())["licenses"]}
    assert (docs["LIC-ONE"]["id"], docs["LIC-TWO"]["id"]) == ("cad-floor-2", None)
    assert docs["LIC-TWO"]["label"].startswith("h:")
    assert docs["LIC-ONE"]["label"] == "cad-floor-2"


async def test_oversized_pool_body_is_refused_before_reading(server: Server) -> None:
    resp = await server.client.post(
        "/admin/v1/pool",
        data=io.BytesIO(b"x" * (65 * 1024 * 1024)),
        headers={**server.admin_headers, "Content-Length": str(65 * 1024 * 1024)},
    )
    assert resp.status == 413


async def test_newer_pool_adds_changes_and_removes_licenses(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    status, summary = await server.import_pool(
        [grant("LIC-ONE", seats=2), grant("LIC-NEW")], iat=server.clock.now()
    )
    assert status == 200
    assert (summary["added"], summary["changed"], summary["removed"]) == (1, 1, 2)
    assert set(server.licensing.state.licenses) == {"LIC-ONE", "LIC-NEW"}
    assert (await server.activate("LIC-ONE", "h2"))["authStatus"] == "Success"
    assert (await server.activate("LIC-THREE", "h1"))["reason"] == "LICENSE_NOT_FOUND"


@pytest.mark.parametrize("change", ["removed", "revoked", "suspended"])
async def test_pool_ending_license_ends_its_sessions_at_once(server: Server, change: str) -> None:
    await server.activate("LIC-THREE", "h1")
    await server.activate("LIC-THREE", "h2")
    licenses = [grant("LIC-ONE")]
    if change != "removed":
        licenses.append(grant("LIC-THREE", seats=3, status=change))
    status, summary = await server.import_pool(licenses, iat=server.clock.now())
    assert status == 200 and summary["sessionsEnded"] == 2
    assert server.licensing.reads.live_sessions() == []
    events = await server.licensing.store.audit(after=0, limit=100)
    assert [e.data["reason"] for e in events if e.type == "session.ended"] == ["revoked"] * 2


async def test_pool_shrinking_seats_drains_without_cutting_anyone(server: Server) -> None:
    for ctx in ("h1", "h2", "h3"):
        await server.activate("LIC-THREE", ctx)
    status, _ = await server.import_pool([grant("LIC-THREE", seats=1)], iat=server.clock.now())
    assert status == 200
    assert len(server.licensing.reads.live_sessions()) == 3  # nobody cut
    for ctx in ("h1", "h2", "h3"):  # holders keep working
        assert (await server.activate("LIC-THREE", ctx))["authStatus"] == "Success"
    await server.call("deactivate", licenseToken="LIC-THREE", authContext="h1")
    assert (await server.activate("LIC-THREE", "h4"))["reason"] == "SESSION_LIMIT_REACHED"
    await server.call("deactivate", licenseToken="LIC-THREE", authContext="h2")
    await server.call("deactivate", licenseToken="LIC-THREE", authContext="h3")
    assert (await server.activate("LIC-THREE", "h4"))["authStatus"] == "Success"


@pytest.mark.usefixtures("sqlite_only")
async def test_pool_stores_ack_usage_seq_and_raises_clock_floor(server: Server) -> None:
    iat = server.clock.now() + 120
    status, _ = await server.import_pool(DEFAULT_LICENSES, iat=iat, ack=4)
    assert status == 200
    assert (
        server.licensing.state.pool is not None and server.licensing.state.pool.ack_usage_seq == 4
    )
    assert server.licensing.state.floor >= iat
    db = sqlite3.connect(server.instance.db_path)
    assert db.execute("SELECT ack_usage_seq FROM pools ORDER BY seq DESC").fetchone() == (4,)


@pytest.mark.usefixtures("sqlite_only")
async def test_restart_reverifies_stored_pool_and_refuses_an_edited_one(
    server: Server,
) -> None:
    await server.activate("LIC-ONE", "h1")
    other = make_pool(
        server.vendor, server.instance, [grant("X", seats=999)], seq=9, iat=server.clock.now()
    )
    await server.client.close()
    db = sqlite3.connect(server.instance.db_path)
    db.execute("UPDATE pools SET raw = ? WHERE seq = 1", (other,))
    db.commit()
    db.close()
    app = build_app(
        Config(data_dir=server.instance.data_dir),
        instance=server.instance,
        clock=server.clock,
        run_jobs=False,
    )
    runner = web.AppRunner(app)
    with pytest.raises(Refused, match="does not match its signed content"):
        await runner.setup()
    await runner.cleanup()


async def test_import_logs_its_steps_with_counts_and_seconds(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lls.domain.service")
    server = await make_server([grant(f"L-{n}") for n in range(3)])
    steps = {r.getMessage(): getattr(r, "fields", {}) for r in caplog.records}
    assert steps["pool import: started"]["bytes"] > 0
    assert steps["pool import: verified"]["licenses"] == 3
    assert steps["pool import: verified"]["seconds"] >= 0
    applied = steps["pool import: applied"]
    assert (applied["seq"], applied["added"], applied["removed"]) == (server.seq, 3, 0)
    assert applied["total_seconds"] >= applied["seconds"]
