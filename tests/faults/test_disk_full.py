"""Disk full under load on a real tmpfs, then freed, then kill -9 and restart.

Eight devices activate and deactivate over single- and three-seat licenses while
the data directory's file system is filled to the last byte, held full, freed.
What each device was told is compared with the server's sessions before and
after a kill -9, and after a SIGTERM on top: no acknowledged answer lost, no
503'd activate present, no license over its seats; validate answers 200 while
full; the server takes writes again by itself before the restart;
`integrity_check` is ok.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Daemon
from tests.faults.conftest import daemon_on, import_pool, licenses_for, new_instance
from tests.faults.ledger import PRODUCT, Client, Ledger, run_devices, server_view
from tests.pools import VendorKeys

LICENSES = licenses_for(singles=12, triples=4)
SEATS = {lic["token"]: lic["seats"] for lic in LICENSES}
TOKENS = list(SEATS)


def _view(daemon: Daemon) -> tuple[set[tuple[str, str]], dict[str, int]]:
    status_s, sessions = daemon.admin("/admin/v1/sessions?limit=1000")
    status_l, licenses = daemon.admin("/admin/v1/licenses?limit=1000")
    assert (status_s, status_l) == (200, 200), (sessions, licenses)
    return server_view(sessions, licenses)


def _wait_for(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.timeout(120)
def test_disk_full_then_freed_then_kill9_keeps_every_answer(
    tmp_path: Path, vendor: VendorKeys, tmpfs: Any
) -> None:
    disk = tmpfs(24)
    instance = new_instance(disk.path, tmp_path, vendor)
    import_pool(instance, vendor, LICENSES, tmp_path)
    daemon = daemon_on(disk.path)  # its log goes beside the mount, not onto the full disk
    ledger = Ledger(seats=SEATS)
    stop = threading.Event()
    daemon.start()
    try:
        threads = run_devices(
            daemon.port,
            ledger,
            TOKENS,
            8,
            stop=stop,
            max_ops=20_000,
            ops=("activate", "deactivate"),
        )
        time.sleep(1.0)
        before_full = ledger.acknowledged
        disk.fill()
        saw_503 = _wait_for(lambda: ledger.answers["activate 503"] > 0, 20)
        time.sleep(2.0)  # held full, under load
        reader = Client(daemon.port)
        validate_status, validate = reader.call(
            "/licensing/validate", {"licenseToken": "THREE-0", "productCodes": [PRODUCT]}
        )
        reader.close()
        disk.free()
        acked_at_free = ledger.acknowledged
        recovered = _wait_for(lambda: ledger.acknowledged > acked_at_free + 50, 15)
        time.sleep(1.0)  # more acknowledged answers after the recovery
        stop.set()
        for thread in threads:
            thread.join(20)
        in_memory = ledger.compare(*_view(daemon))
        daemon.kill9()
        daemon.start()
        after_restart = ledger.compare(*_view(daemon))
        assert daemon.stop() == 0  # and a graceful stop and start on top
        daemon.start()
        after_sigterm = ledger.compare(*_view(daemon))
        integrity = _integrity(instance.db_path)
    finally:
        stop.set()
        daemon.stop()
    assert before_full > 0
    assert saw_503, f"the full disk refused no write: {dict(ledger.answers)}"
    assert (validate_status, validate.get("authStatus")) == (200, "Success"), validate
    assert recovered, f"no write taken within 15 s after space returned: {dict(ledger.answers)}"
    assert ledger.answers["activate 500"] + ledger.answers["deactivate 500"] == 0
    assert in_memory == []
    assert after_restart == []
    assert after_sigterm == []
    assert integrity == "ok"


@pytest.mark.timeout(60)
def test_a_restart_while_the_disk_is_full_serves_reads_and_takes_writes_once_freed(
    tmp_path: Path, vendor: VendorKeys, tmpfs: Any
) -> None:
    """kill -9 in the middle of a full disk and a restart while it is still full (what the
    soak does) must not take the site down: the server comes up with its sessions, answers
    validate, refuses writes with 503, takes them again once space returns, and writes its
    server file then so the CLI finds it."""
    disk = tmpfs(24)
    instance = new_instance(disk.path, tmp_path, vendor)
    import_pool(instance, vendor, LICENSES, tmp_path)
    daemon = daemon_on(disk.path)
    held = {"licenseToken": "ONE-0", "productCodes": [PRODUCT], "authContext": "pc-held"}
    body = {"licenseToken": "THREE-0", "productCodes": [PRODUCT], "authContext": "pc-1"}
    daemon.start()
    try:
        client = Client(daemon.port)
        first = client.call("/licensing/activate", held)
        client.close()
        disk.fill()
        daemon.kill9()
        daemon.start()
        validate = client.call(
            "/licensing/validate", {"licenseToken": "ONE-0", "productCodes": [PRODUCT]}
        )
        again = client.call("/licensing/activate", {**held, "authContext": "pc-other"})
        while_full = client.call("/licensing/activate", body)
        disk.free()
        took = _wait_for(
            lambda: client.call("/licensing/activate", body)[1].get("authStatus") == "Success", 15
        )
        found = _wait_for(lambda: (disk.path / "server.json").exists(), 15)
        client.close()
    finally:
        daemon.stop()
    assert first[1].get("authStatus") == "Success", first
    assert (validate[0], validate[1].get("authStatus")) == (200, "Success"), validate
    assert again[1].get("reason") == "SESSION_LIMIT_REACHED", again  # its session survived
    assert (while_full[0], while_full[1].get("code")) == (503, "STORAGE_ERROR"), while_full
    assert took, "no activate taken within 15 s after space returned"
    assert found, "the server never wrote server.json, so the CLI cannot find it"


@pytest.mark.timeout(60)
def test_a_start_that_cannot_open_the_database_on_a_full_disk_says_so_and_starts_once_freed(
    tmp_path: Path, vendor: VendorKeys, tmpfs: Any
) -> None:
    """After a clean stop SQLite has removed its -wal and -shm files; on a disk with no byte
    left it cannot create them again. That start fails with one line that names the disk
    (no traceback), and the same command serves once space returns (systemd restarts it)."""
    disk = tmpfs(24)
    instance = new_instance(disk.path, tmp_path, vendor)
    import_pool(instance, vendor, LICENSES, tmp_path)
    daemon = daemon_on(disk.path)
    disk.fill()
    with pytest.raises(AssertionError, match="lls serve exited") as refused:
        daemon.start()
    disk.free()
    daemon.start()
    try:
        client = Client(daemon.port)
        body = {"licenseToken": "THREE-0", "productCodes": [PRODUCT], "authContext": "pc-1"}
        activated = client.call("/licensing/activate", body)
        client.close()
    finally:
        daemon.stop()
    message = str(refused.value)
    assert "cannot open the database" in message and "disk full" in message, message
    assert "Traceback" not in message, message
    assert activated[1].get("authStatus") == "Success", activated
