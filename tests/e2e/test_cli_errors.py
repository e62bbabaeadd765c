"""Errors a person meets at first try, with the real processes: ports, permissions, pipes."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Daemon, free_port, lls
from tests.pools import grant


def test_serve_on_a_port_in_use_says_so_in_one_line(daemon: Daemon) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = lls("serve", "--data-dir", str(daemon.data_dir), "--port", str(port), check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"lls: port {port} is in use by another process; set listen.port (or stop that process)"
    )
    assert not (daemon.data_dir / "server.json").exists()


def test_separate_admin_port_in_use_names_admin_port(daemon: Daemon) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = lls(
            "serve",
            "--data-dir",
            str(daemon.data_dir),
            "--port",
            str(free_port()),
            env={"LLS_ADMIN_PORT": str(port)},
            check=False,
        )
    assert done.returncode == 1 and "set admin.port" in done.stderr
    assert "Traceback" not in done.stderr


DROP_FILE_ACCESS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def as_root_without_file_access(*args: str) -> subprocess.CompletedProcess[str]:
    """`lls ARGS` as root but without the capabilities that read any user's files, so the
    kernel refuses another user's 0600 file as it does for `sudo -u lls` (no Python access
    for other users on this machine: /root, where the interpreter lives, is 0700)."""
    return subprocess.run(
        [*DROP_FILE_ACCESS, sys.executable, "-m", "lls", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def needs_root() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root with setpriv (util-linux)")
        pytest.skip("needs root and setpriv to refuse a file to a process for real")


def test_restore_of_a_backup_another_user_owns_names_the_file_and_the_user(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    needs_root()
    data = str(daemon.data_dir)
    lls("pool", "import", str(pool_file([grant("BIG")])), "--data-dir", data)
    backup = tmp_path / "backup.db"
    lls("backup", "--out", str(backup), "--data-dir", data)
    os.chown(backup, 65534, 65534)  # nobody's now, mode 0600: as a backup made by another user
    done = as_root_without_file_access("restore", str(backup), "--data-dir", data)
    assert done.returncode == 1, done.stdout
    assert f"permission denied: user root cannot read {backup}" in done.stderr
    assert "(owner nobody, mode 0600)" in done.stderr
    assert "install -o root -m 0600" in done.stderr  # what to do about it
    assert "not a usable SQLite database" not in done.stderr


def test_views_on_a_data_dir_of_another_user_say_permission_not_no_server(
    daemon: Daemon,
) -> None:
    needs_root()
    token = daemon.data_dir / "admin.token"
    os.chown(token, 65534, 65534)
    done = as_root_without_file_access("status", "--data-dir", str(daemon.data_dir))
    assert done.returncode == 1
    assert f"permission denied: user root cannot read {token}" in done.stderr


def test_audit_into_a_closed_pipe_exits_quietly(daemon: Daemon, pool_file: Any) -> None:
    lls("pool", "import", str(pool_file([grant("BIG")])), "--data-dir", str(daemon.data_dir))
    daemon.start()
    read, write = os.pipe()
    os.close(read)  # the reader (`head`) is gone before lls writes a byte
    try:
        done = subprocess.run(
            [sys.executable, "-m", "lls", "audit", "--data-dir", str(daemon.data_dir)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
        daemon.stop()
    assert (done.returncode, done.stderr) == (141, "")


def test_serve_refuses_a_database_from_a_newer_lls(daemon: Daemon, pool_file: Any) -> None:
    lls("pool", "import", str(pool_file([grant("BIG")])), "--data-dir", str(daemon.data_dir))
    db = daemon.data_dir / "lls.db"
    with sqlite3.connect(db) as conn:
        known = int(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute(f"PRAGMA user_version={known + 1}")
    done = lls("serve", "--data-dir", str(daemon.data_dir), "--port", str(daemon.port), check=False)
    assert done.returncode == 1
    assert f"schema version {known + 1}, newer than this LLS" in done.stderr
    assert f"(up to {known})" in done.stderr and "Traceback" not in done.stderr
    with sqlite3.connect(db) as conn:
        assert int(conn.execute("PRAGMA user_version").fetchone()[0]) == known + 1
