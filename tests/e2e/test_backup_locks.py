"""A backup never costs the daemon its locks: `lls backup` while the daemon takes scheduled
backups must not make SQLite delete the live WAL (found while testing issue 10's file modes:
a second descriptor of lls.db opened and closed in the daemon dropped its POSIX locks)."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import Daemon, lls
from tests.pools import PRODUCT, grant


def test_cli_backup_during_scheduled_backups_keeps_the_wal_and_every_acknowledged_session(
    daemon: Daemon, pool_file: Any
) -> None:
    data = daemon.data_dir
    lls("pool", "import", str(pool_file([grant("A", seats=5)])), "--data-dir", str(data))
    daemon.env.update({"LLS_BACKUP_DIR": str(data / "backups"), "LLS_BACKUP_INTERVAL_S": "0.5"})
    daemon.start()
    deadline = time.monotonic() + 15
    while not list((data / "backups").glob("lls-*.db")) and time.monotonic() < deadline:
        time.sleep(0.1)
    lls("backup", "--data-dir", str(data), "--out", str(data.parent / "manual.db"))
    body = {"licenseToken": "A", "productCodes": [PRODUCT], "authContext": "after-backup"}
    assert daemon.post("/licensing/activate", body)[1]["authStatus"] == "Success"

    daemon.kill9()
    daemon.start()

    status, sessions = daemon.get("/admin/v1/sessions", (data / "admin.token").read_text().strip())
    assert status == 200
    assert [s["authContext"] for s in sessions["sessions"]] == ["after-backup"]
