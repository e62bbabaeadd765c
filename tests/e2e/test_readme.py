"""README's commands are the ones that work: its admin and backup blocks, run as written.

Only the site's paths are swapped for the test's (the data directory, the backup
folder), the placeholders for real values, and the service user for this one.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Daemon, lls
from tests.pools import PRODUCT, grant

README = Path(__file__).resolve().parents[2] / "README.md"


def blocks(heading: str) -> list[list[str]]:
    """The command lines of each ```sh block in the section under `heading`."""
    text = README.read_text()
    start = text.index(f"\n{heading}\n")
    following = re.search(r"\n#{2,3} ", text[start + 1 :])
    section = text[start : start + 1 + following.start()] if following else text[start:]
    found = []
    for body in re.findall(r"```sh\n(.*?)```", section, re.S):
        lines = [ln.split("  #")[0].strip() for ln in body.splitlines()]
        found.append([ln for ln in lines if ln and not ln.startswith("#")])
    return found


def as_here(line: str, d: Daemon, backups: Path, **values: str) -> list[str]:
    line = line.replace("sudo -u lls /opt/lls/bin/lls ", "lls ").replace(
        "$(date +%F)", "2026-05-01"
    )
    line = line.replace("/var/lib/lls/backups", str(backups)).replace(
        "/var/lib/lls", str(d.data_dir)
    )
    line = line.replace("/root/", f"{backups.parent}/")
    for name, value in values.items():
        line = line.replace(name, value)
    return shlex.split(line)


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    if argv[0] == "lls":
        return lls(*argv[1:])
    if argv[:2] == ["sudo", "install"]:  # as this user: the service user may not exist here
        words, argv = argv[1:], []
        while words:
            word = words.pop(0)
            if word in ("-o", "-g"):
                words.pop(0)
            else:
                argv.append(word)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)


@pytest.fixture
def served(daemon: Daemon, pool_file: Any) -> Iterator[Daemon]:
    pool = pool_file([grant("README-1", seats=3, productCodes=[PRODUCT])])
    lls("pool", "import", str(pool), "--data-dir", str(daemon.data_dir))
    daemon.start()
    daemon.post(
        "/licensing/activate",
        {"licenseToken": "README-1", "productCodes": [PRODUCT], "authContext": "pc-1"},
    )
    yield daemon
    daemon.stop()


def test_readme_admin_view_commands_run_as_written(served: Daemon, tmp_path: Path) -> None:
    sessions = json.loads(lls("sessions", "--json", "--data-dir", str(served.data_dir)).stdout)
    sid = sessions["sessions"][0]["id"]
    (commands,) = blocks(
        "Admin views talk to the running server with the token in the data directory:"
    )
    outputs = [
        run(as_here(c, served, tmp_path, LICENSE_TOKEN="README-1", SESSION_ID=sid)).stdout
        for c in commands
    ]
    assert "README-1" in outputs[1] and "README-1" in outputs[2] and "pc-1" in outputs[4]
    assert outputs[5].strip() == f"ended session {sid}"
    assert "session.ended" in outputs[6]
    assert outputs[7].startswith("reloaded")


def test_readme_backup_and_restore_commands_run_as_written(served: Daemon, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    (plain, handover) = blocks("### Backups and restore")
    for command in plain:
        if command == "sudo systemctl stop lls":
            served.stop()
        elif command == "sudo systemctl start lls":
            served.start()
        else:
            run(as_here(command, served, backups))
    (tmp_path / "lls-2026-05-01.db").write_bytes((backups / "lls-2026-05-01.db").read_bytes())
    served.stop()
    outputs = [run(as_here(c, served, backups)).stdout for c in handover]
    assert outputs[-1].startswith(f"restored {backups / 'lls-2026-05-01.db'}")
