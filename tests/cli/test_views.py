"""The admin views in-process: licenses (filters, show, offline seats), sessions, audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lls.cli.table import render_table
from lls.cli.view_render import SESSION_COLUMNS
from lls.cli.views import since_time
from lls.client import OfflineDevice
from lls.errors import BadRequest
from lls.sealed import read_sealed_file
from tests.cli.conftest import Cli, at
from tests.conftest import Server, ServerFactory
from tests.pools import grant


def rows(text: str) -> tuple[list[str], list[list[str]]]:
    lines = text.splitlines()
    return lines[0].split(), [line.split() for line in lines[1:]]


async def offline_seat(server: Server, cli: Cli, tmp_path: Path, token: str) -> None:
    device = OfflineDevice(tmp_path / "device.jwks")
    instance = server.instance
    device.pin_server(
        {"instanceId": instance.instance_id, "keys": instance.keys.public().to_jwks()}
    )
    request = tmp_path / "request.lls"
    request.write_text(device.offline_request(token, ["ACME_PRO"], "field-unit"))
    ran = await cli(
        "offline", "activate", str(request), "--out", str(tmp_path / "r.lls"), *at(server)
    )
    assert ran.code == 0, ran.err


async def test_licenses_counts_offline_seats_and_shows_products(
    server: Server, cli: Cli, tmp_path: Path
) -> None:
    await offline_seat(server, cli, tmp_path, "LIC-THREE")
    await server.activate("LIC-THREE", "pc-1")
    ran = await cli("licenses", *at(server))
    header, table = rows(ran.out)
    row = {r[0]: dict(zip(header, r, strict=False)) for r in table}["LIC-THREE"]
    assert (row["PRODUCTS"], row["SEATS"], row["SESSIONS"], row["OFFLINE"], row["FREE"]) == (
        "ACME_PRO",
        "3",
        "1",
        "1",
        "1",
    )


async def test_licenses_filters_by_product_and_status(make_server: ServerFactory, cli: Cli) -> None:
    server = await make_server(
        [
            grant("A-1", productCodes=["ALPHA"]),
            grant("B-1", productCodes=["BETA"]),
            grant("B-2", productCodes=["BETA"], status="suspended"),
        ]
    )
    by_product = await cli("licenses", "--product", "BETA", "--json", *at(server))
    both = await cli("licenses", "--product", "BETA", "--status", "active", "--json", *at(server))
    tokens = [[lic["token"] for lic in json.loads(r.out)["licenses"]] for r in (by_product, both)]
    assert (sorted(tokens[0]), tokens[1]) == (["B-1", "B-2"], ["B-1"])


async def test_licenses_show_prints_one_license_with_its_sessions(
    server: Server, cli: Cli, tmp_path: Path
) -> None:
    await server.activate("LIC-THREE", "pc-1")
    await offline_seat(server, cli, tmp_path, "LIC-THREE")
    ran = await cli("licenses", "show", "LIC-THREE", *at(server))
    assert ran.code == 0
    assert "token:" in ran.out and "LIC-THREE" in ran.out
    assert "offline seats: 1" in " ".join(ran.out.split())
    assert "pc-1" in ran.out and "field-unit" in ran.out


async def test_licenses_show_of_an_unknown_token_is_one_line(server: Server, cli: Cli) -> None:
    ran = await cli("licenses", "show", "NOPE", *at(server))
    assert (ran.code, ran.err.count("\n")) == (1, 1)
    assert ran.err.startswith("lls: no such license")


def test_sessions_table_shows_who_holds_the_seat_when_the_server_says() -> None:
    doc = {
        "id": "s-1",
        "licenseToken": "LIC",
        "authContext": "mid-abc",
        "clientAddress": "10.1.2.3",
        "clientInfo": {"hostname": "ws-07", "user": "ann", "application": "CAD", "version": "5.1"},
        "startedAt": "2026-01-01T00:00:00Z",
        "expiresAt": "2026-01-01T00:10:00Z",
    }
    header, body = rows("\n".join(render_table([doc], SESSION_COLUMNS)))
    who = ["USER", "HOST", "APPLICATION", "ADDRESS"]
    assert header == ["ID", "LICENSE", "AUTHCONTEXT", *who, "STARTED", "EXPIRES"]
    assert body[0][3:8] == ["ann", "ws-07", "CAD", "5.1", "10.1.2.3"]


def test_sessions_table_leaves_out_client_columns_no_session_has() -> None:
    doc = {"id": "s-1", "licenseToken": "L", "authContext": "c", "startedAt": "t", "expiresAt": "u"}
    header, _ = rows("\n".join(render_table([doc], SESSION_COLUMNS)))
    assert header == ["ID", "LICENSE", "AUTHCONTEXT", "STARTED", "EXPIRES"]


async def test_audit_is_newest_first_and_limited(server: Server, cli: Cli) -> None:
    for n in range(3):
        await server.activate("LIC-THREE", f"pc-{n}")
    ran = await cli("audit", "--limit", "2", "--json", *at(server))
    ids = [e["id"] for e in json.loads(ran.out)["events"]]
    newest = await server.licensing.store.audit(after=0, limit=1000)
    assert ids == [newest[-1].id, newest[-2].id]


async def test_audit_filters_by_type_and_prefix(server: Server, cli: Cli) -> None:
    await server.activate("LIC-THREE", "pc-1")
    exact = await cli("audit", "--type", "pool.imported", "--json", *at(server))
    prefix = await cli("audit", "--type", "session.*", "--json", *at(server))
    assert {e["type"] for e in json.loads(exact.out)["events"]} == {"pool.imported"}
    assert {e["type"] for e in json.loads(prefix.out)["events"]} == {"session.started"}


async def test_audit_since_leaves_out_older_events(server: Server, cli: Cli) -> None:
    server.clock.advance(3600)
    await server.activate("LIC-THREE", "pc-1")
    since = since_time("30m", server.clock.now())
    ran = await cli("audit", "--since", since, "--json", *at(server))
    assert [e["type"] for e in json.loads(ran.out)["events"]] == ["session.started"]


def test_since_reads_spans_and_times_and_refuses_others() -> None:
    assert since_time("2h", 7200.0) == "1970-01-01T00:00:00Z"
    assert since_time("1970-01-02T00:00:00Z", 0.0) == "1970-01-02T00:00:00Z"
    with pytest.raises(BadRequest, match="--since"):
        since_time("yesterday", 0.0)


async def test_offline_activate_writes_a_file_the_device_reads(
    server: Server, cli: Cli, tmp_path: Path
) -> None:
    await offline_seat(server, cli, tmp_path, "LIC-ONE")
    assert read_sealed_file(tmp_path / "r.lls").count(".") == 4


async def test_status_prints_pool_clock_and_sessions_for_people(server: Server, cli: Cli) -> None:
    await server.activate("LIC-THREE", "pc-1")
    ran = await cli("status", *at(server))
    fields = dict(line.split(":", 1) for line in ran.out.splitlines())
    assert fields["pool seq"].strip() == "1" and fields["clock"].strip() == "ok"
    assert (fields["licenses"].strip(), fields["live sessions"].strip()) == ("3", "1")
    assert "usage.lastSeq" in fields  # every other field, flattened


async def test_sessions_shows_a_borrowed_seat_with_its_end_and_ends_it(
    make_server: ServerFactory,
    cli: Cli,
    tmp_path: Path,
) -> None:
    server: Server = await make_server([grant("LIC-ROAD", seats=1, borrowMaxSeconds=86400)])
    await server.activate("LIC-ROAD", "laptop-1")
    device = OfflineDevice(tmp_path / "laptop.jwks")
    instance = server.instance
    device.pin_server(
        {"instanceId": instance.instance_id, "keys": instance.keys.public().to_jwks()}
    )
    _, answer = await server.call(
        "borrow",
        licenseToken="LIC-ROAD",
        authContext="laptop-1",
        borrowSeconds=3600,
        **device.prepare_borrow("LIC-ROAD", ["ACME_PRO"], "laptop-1"),
    )
    ran = await cli("sessions", *at(server))
    header, body = rows(ran.out)
    assert header == ["ID", "LICENSE", "AUTHCONTEXT", "KIND", "STARTED", "EXPIRES"]
    assert body == [
        [
            answer["activationId"],
            "LIC-ROAD",
            "laptop-1",
            "borrowed",
            body[0][4],
            answer["leaseExpiresAt"],
        ]
    ]
    ran = await cli("sessions", "end", answer["activationId"], *at(server))
    assert ran.code == 0, ran.err
    assert "(none)" in (await cli("sessions", *at(server))).out
    assert (await server.activate("LIC-ROAD", "desk-2"))["authStatus"] == "Success"
