"""Usage files: read by an independent JOSE library, lossless until acknowledged, then pruned."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jwcrypto import jwe, jwk, jws

from lls.clock import parse_rfc3339
from lls.sealed import read_sealed_text
from lls.sealed.chain import GENESIS_HASH, chain_hash
from lls.sealed.payloads import TYP_USAGE
from tests.conftest import DEFAULT_LICENSES, Server, ServerFactory


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL (the store contract, end to end)."""
    return both_backends


async def export(server: Server) -> dict[str, Any]:
    """GET /admin/v1/usage, then decrypt and verify it with jwcrypto as the vendor would."""
    resp = await server.client.get("/admin/v1/usage", headers=server.admin_headers)
    assert resp.status == 200
    text = await resp.text()
    assert text.startswith("# kind: lls-usage+jws")
    outer = jwe.JWE()
    outer.deserialize(
        read_sealed_text(text), key=jwk.JWK(**server.vendor.keys.encryption.as_dict(private=True))
    )
    assert (outer.jose_header["alg"], outer.jose_header["enc"]) == ("ECDH-ES", "A256GCM")
    inner = jws.JWS()
    inner.allowed_algs = ["Ed25519"]
    inner.deserialize(outer.payload.decode())
    instance_key = jwk.JWK(**server.instance.keys.public().verify.as_dict())
    inner.verify(instance_key, alg="Ed25519")
    assert inner.jose_header["typ"] == TYP_USAGE
    doc: dict[str, Any] = json.loads(inner.payload)
    return doc


def assert_chain(events: list[dict[str, Any]], prev: str) -> None:
    for e in events:
        assert e["prevHash"] == prev
        expected = chain_hash(
            prev_hash=prev,
            event_id=e["id"],
            at=parse_rfc3339(e["at"]),
            type=e["type"],
            license=e["license"],
            auth_context=e["authContext"],
            data=e["data"],
        )
        assert e["hash"] == expected
        prev = e["hash"]


async def test_usage_file_is_readable_by_an_independent_reader(server: Server) -> None:
    await server.activate("LIC-THREE", "h1")
    await server.call("deactivate", licenseToken="LIC-THREE", authContext="h1")
    doc = await export(server)
    assert (doc["iss"], doc["aud"], doc["seq"], doc["poolSeq"]) == (
        server.instance.instance_id,
        "vendor:test",
        1,
        1,
    )
    types = [e["type"] for e in doc["events"]]
    assert types == ["pool.imported", "session.started", "session.ended"]
    assert doc["eventRange"] == {"first": 1, "last": 3}
    assert_chain(doc["events"], GENESIS_HASH)
    assert doc["chainHead"] == doc["events"][-1]["hash"]
    three = next(lic for lic in doc["licenses"] if lic["token"] == "LIC-THREE")
    assert (three["seats"], three["liveSessions"], three["peakSessions"]) == (3, 0, 1)
    assert doc["clock"]["tamperDetected"] is False


async def test_usage_files_are_lossless_until_acknowledged(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    first = await export(server)
    await server.activate("LIC-THREE", "h2")
    second = await export(server)
    assert second["seq"] == first["seq"] + 1
    ids_first = [e["id"] for e in first["events"]]
    ids_second = [e["id"] for e in second["events"]]
    assert ids_second[: len(ids_first)] == ids_first  # nothing dropped without an ack
    assert len(ids_second) > len(ids_first)


async def test_acknowledged_events_are_pruned_and_chain_continues(server: Server) -> None:
    await server.activate("LIC-ONE", "h1")
    first = await export(server)
    status, _ = await server.import_pool(DEFAULT_LICENSES, iat=server.clock.now(), ack=first["seq"])
    assert status == 200
    audit = await server.licensing.store.audit(after=0, limit=100)
    assert audit[0].id == first["eventRange"]["last"] + 1  # pruned up to the acked file
    await server.activate("LIC-THREE", "h9")
    second = await export(server)
    assert second["events"][0]["id"] == first["eventRange"]["last"] + 1
    assert_chain(second["events"], first["chainHead"])


async def test_chain_survives_restart_after_every_event_was_pruned(
    make_server: ServerFactory,
) -> None:
    server: Server = await make_server(DEFAULT_LICENSES)
    first = await export(server)
    await server.import_pool(DEFAULT_LICENSES, iat=server.clock.now(), ack=first["seq"])
    second = await export(server)  # carries only the pool.imported and usage.exported events
    await server.import_pool(DEFAULT_LICENSES, iat=server.clock.now(), ack=second["seq"])
    await server.client.close()
    again: Server = await make_server(None)
    again.seq = server.seq
    third = await export(again)
    assert third["events"], third
    assert third["events"][0]["id"] == second["eventRange"]["last"] + 1
    assert_chain(third["events"], second["chainHead"])
