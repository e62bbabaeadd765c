"""Reloading a running `lls serve`: SIGHUP and `lls reload` re-read the config file."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Daemon, lls
from tests.pools import grant

BASE = """\
listen:
  host: 127.0.0.1
log:
  level: {level}
limits:
  unknown_token_failures: {limit}
"""


def write_config(path: Path, *, level: str = "INFO", limit: int = 2, extra: str = "") -> Path:
    path.write_text(BASE.format(level=level, limit=limit) + extra)
    return path


def validate_status(d: Daemon, token: str) -> int:
    request = urllib.request.Request(
        d.url + "/licensing/validate",
        data=json.dumps({"licenseToken": token}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.fixture
def configured(daemon: Daemon, tmp_path: Path) -> Daemon:
    daemon.config = write_config(tmp_path / "lls.yaml")
    return daemon


def test_sighup_reloads_the_limits_and_keeps_serving(configured: Daemon) -> None:
    configured.start()
    assert [validate_status(configured, f"NOPE-{n}") for n in range(3)] == [200, 200, 429]
    write_config(configured.config, limit=100)  # type: ignore[arg-type]
    configured.signal(signal.SIGHUP)
    configured.wait_log("settings reloaded: limits.unknown_token_failures")
    assert configured.proc is not None and configured.proc.poll() is None
    assert validate_status(configured, "NOPE-3") == 200
    assert configured.stop() == 0


def test_lls_reload_applies_the_log_level_and_names_what_needs_a_restart(
    configured: Daemon,
) -> None:
    write_config(configured.config, level="WARNING")  # type: ignore[arg-type]
    configured.start()
    text = configured.config.read_text().replace("WARNING", "INFO")  # type: ignore[union-attr]
    configured.config.write_text(text.replace("127.0.0.1", "127.0.0.2"))  # type: ignore[union-attr]
    done = lls("reload", "--data-dir", str(configured.data_dir))
    assert done.stdout.splitlines() == [
        "reloaded: log.level",
        "needs a restart to change: listen.host",
    ]
    # Logged at INFO: it shows only because the new level is in force.
    configured.wait_log("settings reloaded: log.level; needs a restart to change: listen.host")
    assert configured.stop() == 0


def test_reload_of_a_bad_file_keeps_the_settings_and_says_why(configured: Daemon) -> None:
    configured.start()
    path: Path = configured.config  # type: ignore[assignment]
    path.write_text(path.read_text() + "  prot: 9000\n")  # under `limits:`, a typo
    done = lls("reload", "--data-dir", str(configured.data_dir), check=False)
    assert done.returncode == 1
    assert "limits.prot" in done.stderr and f"{path} line 7" in done.stderr
    assert "Traceback" not in done.stderr
    configured.signal(signal.SIGHUP)
    log = configured.wait_log("reload refused, the settings in force are kept")
    assert "limits.prot" in log
    assert [validate_status(configured, f"NOPE-{n}") for n in range(3)] == [200, 200, 429]
    assert configured.stop() == 0


def test_reload_schedules_a_drop_folder_added_to_the_config(
    configured: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    configured.start()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    extra = f"sync:\n  inbox: {inbox}\n  interval_s: 0.2\n  settle_s: 0\n"
    write_config(configured.config, extra=extra)  # type: ignore[arg-type]
    lls("reload", "--data-dir", str(configured.data_dir))
    pool_file([grant("DROPPED")]).replace(inbox / "pool-1.lls")
    deadline = time.monotonic() + 15
    while not (inbox / "done" / "pool-1.lls").exists():
        assert time.monotonic() < deadline, configured.log_path.read_text()
        time.sleep(0.1)
    status = json.loads(lls("status", "--json", "--data-dir", str(configured.data_dir)).stdout)
    assert status["pool"]["seq"] == 1
    assert configured.stop() == 0
