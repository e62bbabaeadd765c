"""When the database refuses a write, nothing is acknowledged and memory follows the database.

The failure is a real one from SQLite: a trigger (added through a second
connection, as a broken or full disk would fail the writer) aborts the insert.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from typing import Any

from lls.store import SqliteStore
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant


def _sql(server: Server, statement: str) -> None:
    db = sqlite3.connect(server.instance.db_path)
    db.execute(statement)
    db.commit()
    db.close()


async def test_refused_write_answers_503_and_leaves_no_phantom_session(server: Server) -> None:
    await server.activate("LIC-THREE", "before")
    _sql(
        server,
        "CREATE TRIGGER broken BEFORE INSERT ON sessions"
        " BEGIN SELECT RAISE(ABORT, 'the disk said no'); END",
    )
    resp = await server.client.post(
        "/licensing/activate",
        json={"licenseToken": "LIC-THREE", "productCodes": [PRODUCT], "authContext": "during"},
    )
    assert resp.status == 503
    assert (await resp.json())["code"] == "STORAGE_ERROR"
    # Memory was rebuilt from the database: the refused session does not hold a seat.
    assert {s.auth_context for s in server.licensing.reads.live_sessions()} == {"before"}
    _sql(server, "DROP TRIGGER broken")
    for ctx in ("during", "after"):
        assert (await server.activate("LIC-THREE", ctx))["authStatus"] == "Success"


BREAK_PERSISTENTLY = (
    # Every write with an audit event fails, and so does the writer's probe (meta):
    # the database behaves like a disk that stays full.
    "CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'full'); END",
    "CREATE TRIGGER no_meta BEFORE INSERT ON meta BEGIN SELECT RAISE(ABORT, 'full'); END",
    "CREATE TRIGGER no_meta_update BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'full'); END",
)
HEAL = ("DROP TRIGGER no_events", "DROP TRIGGER no_meta", "DROP TRIGGER no_meta_update")


def _rows(server: Server) -> set[tuple[str, str]]:
    db = sqlite3.connect(server.instance.db_path)
    try:
        return {
            (str(a), str(b)) for a, b in db.execute("SELECT license, auth_context FROM sessions")
        }
    finally:
        db.close()


def _memory(server: Server) -> set[tuple[str, str]]:
    return {(s.license, s.auth_context) for s in server.licensing.state.by_id.values()}


async def _post(server: Server, endpoint: str, **body: Any) -> tuple[int, Any, Any]:
    resp = await server.client.post(f"/licensing/{endpoint}", json=body)
    data = await resp.json() if resp.status != 204 else None
    return resp.status, data, resp.headers


async def test_writes_around_failed_batches_leave_memory_and_answers_equal_to_database(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant(f"L{i}", seats=1) for i in range(12)])
    _sql(
        server,
        "CREATE TRIGGER broken BEFORE INSERT ON sessions WHEN NEW.auth_context LIKE 'bad%'"
        " BEGIN SELECT RAISE(ABORT, 'the disk said no'); END",
    )
    told: dict[tuple[str, str], bool] = {}  # what each device was last told: holds a seat?

    async def device(d: int) -> None:
        rng = random.Random(d)
        ctx = f"bad-{d}" if d == 0 else f"dev-{d}"  # device 0's writes fail their batch
        for _ in range(30):
            lic = f"L{rng.randrange(12)}"
            if rng.random() < 0.6:
                status, body, _ = await _post(
                    server, "activate", licenseToken=lic, productCodes=[PRODUCT], authContext=ctx
                )
                if status == 200:
                    told[(lic, ctx)] = body["authStatus"] == "Success"
            else:
                status, _, _ = await _post(server, "deactivate", licenseToken=lic, authContext=ctx)
                if status == 204:
                    told[(lic, ctx)] = False

    await asyncio.gather(*(device(d) for d in range(8)))
    await server.licensing.store.barrier()
    held = {key for key, holds in told.items() if holds}
    assert (_memory(server), _rows(server)) == (held, held)


async def test_refused_write_answers_carry_retry_after_on_both_apis(server: Server) -> None:
    await server.activate("LIC-THREE", "before")
    [session] = server.licensing.reads.live_sessions()
    for statement in BREAK_PERSISTENTLY:
        _sql(server, statement)
    client_status, body, client_headers = await _post(
        server, "activate", licenseToken="LIC-THREE", productCodes=[PRODUCT], authContext="x"
    )
    resp = await server.client.delete(
        f"/admin/v1/sessions/{session.id}", headers=server.admin_headers
    )
    problem = await resp.json()
    assert (client_status, body["code"], client_headers["Retry-After"]) == (
        503,
        "STORAGE_ERROR",
        "1",
    )
    assert (resp.status, problem["code"], resp.headers["Retry-After"]) == (
        503,
        "STORAGE_ERROR",
        "1",
    )


async def test_reads_answer_from_memory_while_the_database_refuses_writes(server: Server) -> None:
    await server.activate("LIC-THREE", "before")
    for statement in BREAK_PERSISTENTLY:
        _sql(server, statement)
    statuses = [
        (
            await _post(
                server,
                "activate",
                licenseToken="LIC-THREE",
                authContext=f"x{i}",
                productCodes=[PRODUCT],
            )
        )[0]
        for i in range(3)
    ]
    validate = await _post(server, "validate", licenseToken="LIC-THREE", authContext="before")
    sessions = await server.client.get("/admin/v1/sessions", headers=server.admin_headers)
    metrics = await server.client.get("/metrics")
    ready = await server.client.get("/readyz")
    assert statuses == [503, 503, 503]
    assert (validate[0], validate[1]["authStatus"]) == (200, "Success")
    assert [s["authContext"] for s in (await sessions.json())["sessions"]] == ["before"]
    assert (metrics.status, "\nlls_storage_writable 0\n" in await metrics.text()) == (200, True)
    assert (ready.status, "refuses writes" in (await ready.json())["problems"][0]) == (503, True)
    assert (_memory(server), _rows(server)) == ({("LIC-THREE", "before")},) * 2


async def test_server_takes_writes_again_by_itself_once_the_database_heals(server: Server) -> None:
    for statement in BREAK_PERSISTENTLY:
        _sql(server, statement)
    refused, _, _ = await _post(
        server, "activate", licenseToken="LIC-ONE", productCodes=[PRODUCT], authContext="a"
    )
    for statement in HEAL:
        _sql(server, statement)
    deadline = time.monotonic() + 5
    status = 503
    while status == 503 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        status, body, _ = await _post(
            server, "activate", licenseToken="LIC-ONE", productCodes=[PRODUCT], authContext="a"
        )
    assert (refused, status, body["authStatus"]) == (503, 200, "Success")
    assert _rows(server) == {("LIC-ONE", "a")}


async def test_database_that_stays_broken_is_not_rebuilt_per_request(server: Server) -> None:
    for statement in BREAK_PERSISTENTLY:
        _sql(server, statement)
    store = server.licensing.store
    assert isinstance(store, SqliteStore)
    writer = store.writer
    assert writer is not None
    deadline = time.monotonic() + 1.5
    answers: list[int] = []
    while time.monotonic() < deadline:
        status, _, _ = await _post(
            server,
            "activate",
            licenseToken="LIC-THREE",
            productCodes=[PRODUCT],
            authContext=f"h{len(answers)}",
        )
        answers.append(status)
        await asyncio.sleep(0.01)
    assert set(answers) == {503}
    assert len(answers) > 20
    assert writer.rebuilds <= 2  # the probe keeps failing: one rebuild, no storm
