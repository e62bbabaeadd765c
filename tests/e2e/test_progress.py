"""Long work is not silent: progress bars on a terminal (a real pty), nothing when piped."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Daemon, lls
from tests.pools import grant


def on_a_terminal(*args: str) -> tuple[int, str]:
    """Run `lls ARGS` with stdout and stderr on a pseudo-terminal; (status, screen)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lls", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    return proc.wait(60), screen.decode(errors="replace")


def test_backup_on_a_terminal_shows_its_steps(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    data = str(daemon.data_dir)
    lls("pool", "import", str(pool_file([grant("BIG")])), "--data-dir", data)
    code, screen = on_a_terminal("backup", "--out", str(tmp_path / "b.db"), "--data-dir", data)
    assert code == 0, screen
    assert "copying lls.db" in screen and "checking the copy's integrity" in screen
    assert "wrote " in screen


def test_backup_piped_prints_only_its_result(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    data = str(daemon.data_dir)
    lls("pool", "import", str(pool_file([grant("BIG")])), "--data-dir", data)
    done = lls("backup", "--out", str(tmp_path / "b.db"), "--data-dir", data)
    assert done.stderr == ""
    assert done.stdout.startswith("wrote ") and done.stdout.count("\n") == 1


def test_pool_import_and_restore_on_a_terminal_show_their_steps(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    data = str(daemon.data_dir)
    pool = pool_file([grant(f"L-{n}") for n in range(40)])
    code, screen = on_a_terminal("pool", "import", str(pool), "--data-dir", data)
    assert code == 0, screen
    assert "verifying and decrypting the pool" in screen and "applying 40 licenses" in screen
    lls("backup", "--out", str(tmp_path / "b.db"), "--data-dir", data)
    code, screen = on_a_terminal("restore", str(tmp_path / "b.db"), "--data-dir", data)
    assert code == 0, screen
    assert "checking the backup" in screen and "verifying the pool with this instance" in screen


def test_vendor_issue_on_a_terminal_shows_its_steps(tmp_path: Path) -> None:
    vendor, data = tmp_path / "V", tmp_path / "d"
    lls("vendor", "init", "--dir", str(vendor))
    lls("init", "--data-dir", str(data), "--vendor-keys", str(vendor / "vendor.jwks"))
    lls("registration", "--data-dir", str(data), "--out", str(tmp_path / "r.lls"))
    out = lls("vendor", "register", "--dir", str(vendor), str(tmp_path / "r.lls"), "--json")
    instance_id = out.stdout.split('"instanceId": "')[1].split('"')[0]
    licenses = "".join(f"  - {{token: T-{n}, productCodes: [P]}}\n" for n in range(25))
    (tmp_path / "g.yaml").write_text(
        f"org: {{id: o, name: O}}\nvalidDays: 9\nlicenses:\n{licenses}"
    )
    code, screen = on_a_terminal(
        "vendor", "issue", "--dir", str(vendor), "--instance", instance_id,
        "--grants", str(tmp_path / "g.yaml"), "--out", str(tmp_path / "p.lls"),
    )  # fmt: skip
    assert code == 0, screen
    assert "checking 25 licenses" in screen and "signing and encrypting the pool" in screen
