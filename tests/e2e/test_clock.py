"""Clock rollback across a real restart: libfaketime turns the daemon's clock back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lls.instance import Instance
from tests.e2e.conftest import Daemon, lls
from tests.pools import PRODUCT, grant

LIBFAKETIME = sorted(str(p) for p in Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
if not LIBFAKETIME and os.environ.get("CI"):
    raise RuntimeError("libfaketime is missing on CI: .ci/run must apt-get install faketime")
# Skipped on a developer machine without it; CI installs it, and there it must run.
pytestmark = pytest.mark.skipif(
    not LIBFAKETIME,
    reason="needs libfaketime (apt-get install faketime)",
)


def activate(daemon: Daemon, ctx: str) -> Any:
    return daemon.post(
        "/licensing/activate", {"licenseToken": "A", "productCodes": [PRODUCT], "authContext": ctx}
    )[1]


def test_clock_turned_back_across_restart_refuses_then_recovers(
    daemon: Daemon, pool_file: Any, instance: Instance
) -> None:
    lls("pool", "import", str(pool_file([grant("A", seats=5)])), "--data-dir", str(daemon.data_dir))
    daemon.start()
    assert activate(daemon, "pc-1")["authStatus"] == "Success"
    assert daemon.stop() == 0  # a clean stop persists the trusted-time floor

    # The library itself, not the `faketime` wrapper script: signals must reach lls.
    daemon.env = {"LD_PRELOAD": LIBFAKETIME[0], "FAKETIME": "-1d"}
    daemon.start()
    body = activate(daemon, "pc-2")
    assert (body["authStatus"], body["reason"]) == ("Failed", "CLOCK_TAMPERED")
    _, status = daemon.get("/admin/v1/status", instance.admin_token)
    assert status["clock"]["tampered"] is True
    assert daemon.get("/readyz")[0] == 503
    assert "\nlls_clock_tampered 1\n" in daemon.get("/metrics")[1]
    _, audit = daemon.get("/admin/v1/audit?limit=1000", instance.admin_token)
    assert [e["type"] for e in audit["events"]].count("clock.tampered") == 1
    assert daemon.stop() == 0

    daemon.env = {}
    daemon.start()
    assert activate(daemon, "pc-2")["authStatus"] == "Success"
    _, status = daemon.get("/admin/v1/status", instance.admin_token)
    assert status["clock"]["tampered"] is False
