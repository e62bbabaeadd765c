"""Point 7 of issue 10: every file a running instance writes into its data directory is 0600."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Daemon, lls
from tests.pools import PRODUCT, grant


def _loose(root: Path) -> list[str]:
    """Paths under `root` readable or writable by anyone but their owner."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode & 0o077:
                found.append(f"{path.relative_to(root)} {oct(mode)}")
    mode = stat.S_IMODE(root.stat().st_mode)
    if mode & 0o077:
        found.append(f". {oct(mode)}")
    return sorted(found)


def _wait_for(path: Path, pattern: str, timeout_s: float = 15) -> list[Path]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = sorted(path.glob(pattern))
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"nothing matching {pattern} appeared in {path}")


def test_running_instance_after_writes_has_only_owner_only_files(
    daemon: Daemon, pool_file: Any
) -> None:
    data = daemon.data_dir
    daemon.env.update(
        {
            "LLS_BACKUP_DIR": str(data / "backups"),
            "LLS_BACKUP_INTERVAL_S": "1",
            "LLS_SYNC_OUTBOX": str(data / "outbox"),
            "LLS_SYNC_USAGE_INTERVAL_S": "1",
        }
    )
    daemon.start()
    lls("pool", "import", str(pool_file([grant("A", seats=2)])), "--data-dir", str(data))
    daemon.post(
        "/licensing/activate", {"licenseToken": "A", "productCodes": [PRODUCT], "authContext": "pc"}
    )
    lls("backup", "--data-dir", str(data), "--out", str(data / "manual-backup.db"))
    _wait_for(data / "backups", "lls-*.db")
    _wait_for(data / "outbox", "usage-*.lls")

    present = {p.name for p in data.iterdir()}
    loose = _loose(data)

    assert {"lls.db", "lls.db-wal", "lls.db-shm", "server.json", "lls.lock"} <= present, present
    assert loose == []


def test_files_left_loose_by_an_older_version_are_tightened_at_start(
    daemon: Daemon, pool_file: Any
) -> None:
    data = daemon.data_dir
    lls("pool", "import", str(pool_file([grant("A")])), "--data-dir", str(data))
    for name in ("lls.db", "instance.json", "vendor.jwks"):
        (data / name).chmod(0o644)
    data.chmod(0o755)

    daemon.start()

    assert _loose(data) == []
