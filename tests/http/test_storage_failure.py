"""When the database refuses a write, nothing is acknowledged and memory follows the database.

The failure is a real one from SQLite: a trigger (added through a second
connection, as a broken or full disk would fail the writer) aborts the insert.
"""

from __future__ import annotations

import sqlite3

from tests.conftest import Server
from tests.pools import PRODUCT


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
    assert {s.auth_context for s in server.licensing.live_sessions()} == {"before"}
    _sql(server, "DROP TRIGGER broken")
    for ctx in ("during", "after"):
        assert (await server.activate("LIC-THREE", ctx))["authStatus"] == "Success"
