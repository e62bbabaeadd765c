"""The SDK examples as an application runs them: license from the arguments, freed on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Daemon, lls
from tests.pools import grant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def served(daemon: Daemon, pool_file: Any) -> Iterator[Daemon]:
    features = [{"code": "EXPORT_PDF", "type": "floating", "count": 2}]
    pool = pool_file([grant("SOLD-0042", productCodes=["CAD_PRO"], seats=2, features=features)])
    lls("pool", "import", str(pool), "--data-dir", str(daemon.data_dir))
    daemon.start()
    yield daemon
    daemon.stop()


def live_sessions(d: Daemon) -> list[dict[str, Any]]:
    out = lls("sessions", "--json", "--data-dir", str(d.data_dir)).stdout
    return list(json.loads(out)["sessions"])


@pytest.mark.parametrize("example", ["app_with_license.py", "sync_app.py"])
def test_example_holds_the_license_it_is_given_and_frees_it_on_sigterm(
    served: Daemon, example: str, tmp_path: Path
) -> None:
    log = tmp_path / "example.out"
    argv = [sys.executable, str(EXAMPLES / example), "SOLD-0042", "--url", served.url]
    with log.open("wb") as out:
        app = subprocess.Popen(
            [*argv, "--product", "CAD_PRO"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 30
        while "working… step 1" not in log.read_text():
            assert app.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        held = live_sessions(served)
        assert [s["licenseToken"] for s in held] == ["SOLD-0042"]
        app.send_signal(signal.SIGTERM)
        assert app.wait(20) == 128 + signal.SIGTERM, log.read_text()
    finally:
        if app.poll() is None:
            app.kill()
    assert live_sessions(served) == []  # deactivated on the way out, not left to expire
    assert "the seat was given back" in log.read_text()
