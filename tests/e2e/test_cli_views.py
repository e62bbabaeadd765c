"""`lls status | licenses | sessions | audit` against a real server: tables and JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Daemon, lls
from tests.pools import PRODUCT, grant


@pytest.fixture
def served(daemon: Daemon, pool_file: Any) -> Iterator[Daemon]:
    pool = pool_file([grant("LIC-ONE", seats=1), grant("LIC-FIVE", seats=5)])
    lls("pool", "import", str(pool), "--data-dir", str(daemon.data_dir))
    daemon.start()
    session = {"licenseToken": "LIC-FIVE", "productCodes": [PRODUCT]}
    info = {"hostname": "ws-07", "user": "ann", "application": "CAD"}
    daemon.post("/licensing/activate", {**session, "authContext": "pc-1", "clientInfo": info})
    daemon.post(  # an old client: nothing about itself
        "/licensing/activate",
        {"licenseToken": "LIC-FIVE", "productCodes": [PRODUCT], "authContext": "pc-2"},
    )
    yield daemon
    daemon.stop()


def view(d: Daemon, *args: str) -> str:
    return lls(*args, "--data-dir", str(d.data_dir)).stdout


def fields(text: str) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in text.splitlines())
    return {key.strip(): value.strip() for key, value in pairs}


def table(text: str) -> tuple[list[str], list[list[str]]]:
    lines = text.splitlines()
    return lines[0].split(), [line.split() for line in lines[1:]]


def test_status_prints_key_value_lines_with_pool_clock_and_sessions(served: Daemon) -> None:
    got = fields(view(served, "status"))
    assert got["instance"].startswith("lls-")
    assert got["pool seq"] == "1"
    assert "(in 36" in got["pool expires"]  # make_pool's default: a year from now
    assert got["clock"] == "ok"
    assert got["clock floor"].endswith("Z")
    assert (got["licenses"], got["live sessions"]) == ("2", "2")


def test_status_json_is_the_admin_api_document(served: Daemon) -> None:
    doc = json.loads(view(served, "status", "--json"))
    assert doc["pool"]["seq"] == 1
    assert doc["clock"]["tampered"] is False
    assert (doc["licenses"], doc["liveSessions"]) == (2, 2)


def test_licenses_table_has_a_header_and_a_row_per_license(served: Daemon) -> None:
    header, rows = table(view(served, "licenses"))
    assert header[:8] == [
        "TOKEN",
        "PRODUCTS",
        "TYPE",
        "STATUS",
        "SEATS",
        "SESSIONS",
        "OFFLINE",
        "FREE",
    ]
    by_token = {row[0]: row for row in rows}
    assert by_token["LIC-FIVE"][1] == PRODUCT
    assert by_token["LIC-FIVE"][4:8] == ["5", "2", "0", "3"]
    assert by_token["LIC-ONE"][4:8] == ["1", "0", "0", "1"]


def test_licenses_json_lists_each_license(served: Daemon) -> None:
    doc = json.loads(view(served, "licenses", "--json"))
    assert sorted(lic["token"] for lic in doc["licenses"]) == ["LIC-FIVE", "LIC-ONE"]


def test_sessions_table_and_json_show_the_live_sessions(served: Daemon) -> None:
    header, rows = table(view(served, "sessions"))
    assert header == [
        "ID",
        "LICENSE",
        "AUTHCONTEXT",
        "USER",
        "HOST",
        "APPLICATION",
        "ADDRESS",
        "STARTED",
        "EXPIRES",
    ]
    by_context = {row[2]: row[3:7] for row in rows}
    assert by_context == {
        "pc-1": ["ann", "ws-07", "CAD", "127.0.0.1"],
        "pc-2": ["-", "-", "-", "127.0.0.1"],
    }
    doc = json.loads(view(served, "sessions", "--json"))
    assert sorted(s["authContext"] for s in doc["sessions"]) == ["pc-1", "pc-2"]
    assert {row[0] for row in rows} == {s["id"] for s in doc["sessions"]}


def test_audit_table_is_newest_first_and_json_pages_through_events(served: Daemon) -> None:
    header, rows = table(view(served, "audit"))
    assert header == ["ID", "AT", "TYPE", "LICENSE", "AUTHCONTEXT", "DATA"]
    types = [row[2] for row in rows]
    assert types[-1] == "pool.imported"  # the oldest, last
    assert types.count("session.started") == 2
    assert [int(row[0]) for row in rows] == sorted((int(row[0]) for row in rows), reverse=True)
    doc = json.loads(view(served, "audit", "--json", "--after", "1", "--limit", "1"))
    assert [e["id"] for e in doc["events"]] == [2]
    first = json.loads(view(served, "audit", "--json", "--after", "0", "--limit", "1"))
    assert doc["events"][0]["prevHash"] == first["events"][0]["hash"]


def test_views_without_a_running_server_fail_with_one_line(daemon: Daemon) -> None:
    done = lls("status", "--data-dir", str(daemon.data_dir), check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("lls: no running server found")
