"""`lls backup` while the daemon serves under load, and `lls restore` with its refusals."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lls.sealed.chain import GENESIS_HASH, chain_hash
from lls.store.backup import inspect_database
from tests.e2e.conftest import Daemon, lls
from tests.pools import PRODUCT, grant

SEATS = 500


def activate(d: Daemon, ctx: str, token: str = "BIG") -> str:
    _, body = d.post(
        "/licensing/activate",
        {"licenseToken": token, "productCodes": [PRODUCT], "authContext": ctx},
    )
    return str(body["authStatus"])


def extend(d: Daemon, ctx: str, token: str = "BIG") -> str:
    _, body = d.post(
        "/licensing/extend", {"licenseToken": token, "productCodes": [PRODUCT], "authContext": ctx}
    )
    return str(body.get("reason") or body["authStatus"])


def chain_is_intact(path: Path) -> bool:
    """Every audit event links to the one before and hashes to what it says."""
    import json

    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT id, at, type, license, auth_context, data, prev_hash, hash FROM events"
            " ORDER BY id"
        ).fetchall()
    prev = rows[0][6] if rows else GENESIS_HASH
    for row in rows:
        expected = chain_hash(
            prev_hash=prev,
            event_id=row[0],
            at=row[1],
            type=row[2],
            license=row[3],
            auth_context=row[4],
            data=json.loads(row[5]),
        )
        if row[6] != prev or row[7] != expected:
            return False
        prev = row[7]
    return True


def test_backup_while_serving_under_load_is_consistent(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    lls(
        "pool",
        "import",
        str(pool_file([grant("BIG", seats=SEATS)])),
        "--data-dir",
        str(daemon.data_dir),
    )
    daemon.start()
    stop = threading.Event()
    acked: list[str] = []

    def churn(worker: int) -> None:
        i = 0
        while not stop.is_set():
            ctx = f"w{worker}-{i}"
            if activate(daemon, ctx) == "Success":
                acked.append(ctx)
            if i % 2:
                daemon.post("/licensing/deactivate", {"licenseToken": "BIG", "authContext": ctx})
            i += 1

    with ThreadPoolExecutor(8) as pool:
        workers = [pool.submit(churn, w) for w in range(8)]
        backups = []
        for n in range(3):
            out = tmp_path / f"b{n}.db"
            done = lls("backup", "--out", str(out), "--data-dir", str(daemon.data_dir))
            assert "integrity ok" in done.stdout
            backups.append(out)
        stop.set()
        for w in workers:
            w.result()
    assert len(acked) > 50  # the backups really ran under load
    for out in backups:
        info = inspect_database(out)
        assert (info.integrity, info.pool_seq) == ("ok", 1)
        assert 0 <= info.sessions <= SEATS
        assert info.events >= info.sessions + 1  # each live session was started by an event
        assert chain_is_intact(out)


def test_restore_round_trip_brings_back_the_backed_up_sessions(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    data = str(daemon.data_dir)
    lls("pool", "import", str(pool_file([grant("BIG", seats=10)])), "--data-dir", data)
    daemon.start()
    assert [activate(daemon, c) for c in ("a", "b")] == ["Success", "Success"]
    backup = tmp_path / "snap.db"
    lls("backup", "--out", str(backup), "--data-dir", data)
    assert activate(daemon, "c") == "Success"
    assert daemon.stop() == 0

    done = lls("restore", str(backup), "--data-dir", data)
    assert "pool seq 1, 2 live sessions" in done.stdout
    kept = list(daemon.data_dir.glob("lls.db.*.bak"))
    assert len(kept) == 1 and inspect_database(kept[0]).sessions == 3
    daemon.start()
    assert [extend(daemon, c) for c in ("a", "b", "c")] == [
        "Success",
        "Success",
        "NO_ACTIVE_SESSION",
    ]


def test_restore_is_refused_while_the_server_runs(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    data = str(daemon.data_dir)
    lls("pool", "import", str(pool_file([grant("BIG")])), "--data-dir", data)
    daemon.start()
    backup = tmp_path / "snap.db"
    lls("backup", "--out", str(backup), "--data-dir", data)
    done = lls("restore", str(backup), "--data-dir", data, check=False)
    assert done.returncode == 1
    assert "in use by a running `lls serve`" in done.stderr
    assert activate(daemon, "still-serving") == "Success"


def test_restore_of_a_backup_older_than_the_pool_needs_force(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    data = str(daemon.data_dir)
    lls("pool", "import", str(pool_file([grant("BIG")], seq=1)), "--data-dir", data)
    old = tmp_path / "old.db"
    lls("backup", "--out", str(old), "--data-dir", data)
    lls("pool", "import", str(pool_file([grant("BIG")], seq=2)), "--data-dir", data)

    refused = lls("restore", str(old), "--data-dir", data, check=False)
    assert refused.returncode == 1
    assert "pool seq 1, older than the data directory's 2" in refused.stderr
    assert inspect_database(daemon.data_dir / "lls.db").pool_seq == 2

    forced = lls("restore", str(old), "--force", "--data-dir", data)
    assert "pool seq 1" in forced.stdout
    assert inspect_database(daemon.data_dir / "lls.db").pool_seq == 1


def test_restore_refuses_a_file_that_is_not_an_lls_database(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    data = str(daemon.data_dir)
    lls("pool", "import", str(pool_file([grant("BIG")])), "--data-dir", data)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"definitely not SQLite" * 50)
    done = lls("restore", str(junk), "--data-dir", data, check=False)
    assert done.returncode == 1
    assert "not a usable SQLite database" in done.stderr
    assert inspect_database(daemon.data_dir / "lls.db").pool_seq == 1


def test_restore_refuses_another_instances_database(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    data = str(daemon.data_dir)
    lls("pool", "import", str(pool_file([grant("BIG")])), "--data-dir", data)
    before = (daemon.data_dir / "lls.db").read_bytes()
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:  # the right tables, a pool not sealed for us
        conn.executescript(
            "CREATE TABLE pools (seq INTEGER PRIMARY KEY, iat INTEGER, exp INTEGER, org_id TEXT,"
            " ack_usage_seq INTEGER, imported_at REAL, raw TEXT);"
            "INSERT INTO pools VALUES (5, 0, 0, 'org', 0, 0, 'not.a.pool');"
        )
    done = lls("restore", str(foreign), "--data-dir", data, check=False)
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith("lls: ") and done.stderr.count("\n") == 1, done.stderr
    assert (daemon.data_dir / "lls.db").read_bytes() == before
    assert not (daemon.data_dir / ".restore").exists()
