"""The admin's whole path with the real command line, and the one-command demo."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import Daemon, free_port, lls

GRANTS = """
org: {id: org-7, name: Seven Ltd}
validDays: 30
licenses:
  - token: SEVEN-0001
    productCodes: [SEVEN_PRO]
    seats: 2
    validUntil: "2099-01-01T00:00:00Z"
"""


def test_vendor_instance_registration_pool_serve_flow(tmp_path: Path) -> None:
    vendor, data = tmp_path / "vendor", tmp_path / "data"
    lls("vendor", "init", "--dir", str(vendor), "--vendor-id", "vendor:seven")
    lls("init", "--data-dir", str(data), "--vendor-keys", str(vendor / "vendor.jwks"))
    for name in ("instance.key", "admin.token"):
        assert (data / name).stat().st_mode & 0o777 == 0o600, name
    lls("registration", "--data-dir", str(data), "--out", str(tmp_path / "reg.lls"))
    out = lls("vendor", "register", "--dir", str(vendor), str(tmp_path / "reg.lls")).stdout
    instance_id = next(w for w in out.split() if w.startswith("lls-"))
    (tmp_path / "grants.yaml").write_text(GRANTS)

    def issue(out: Path) -> None:
        grants = str(tmp_path / "grants.yaml")
        lls(
            "vendor",
            "issue",
            "--dir",
            str(vendor),
            "--instance",
            instance_id,
            "--grants",
            grants,
            "--out",
            str(out),
        )

    issue(tmp_path / "pool.lls")
    lls("pool", "import", str(tmp_path / "pool.lls"), "--data-dir", str(data))
    daemon = Daemon(data_dir=data, port=free_port())
    daemon.start()
    try:
        _, body = daemon.post(
            "/licensing/activate",
            {"licenseToken": "SEVEN-0001", "productCodes": ["SEVEN_PRO"], "authContext": "pc-1"},
        )
        assert body["authStatus"] == "Success"
        assert body["companyName"] is None
        status = lls("status", "--data-dir", str(data), "--json").stdout
        assert '"liveSessions": 1' in status
        table = lls("sessions", "--data-dir", str(data)).stdout
        assert "pc-1" in table and "SEVEN-0001" in table
        # Usage goes back to the vendor, which acknowledges it in the next pool.
        lls("usage", "export", "--data-dir", str(data), "--out", str(tmp_path / "usage.lls"))
        read = lls(
            "vendor", "read-usage", "--dir", str(vendor), str(tmp_path / "usage.lls"), "--json"
        ).stdout
        assert json.loads(read)["verdict"] == "ok"
        issue(tmp_path / "pool-2.lls")
        lls("pool", "import", str(tmp_path / "pool-2.lls"), "--data-dir", str(data))
        status = json.loads(lls("status", "--data-dir", str(data), "--json").stdout)
        assert status["pool"]["ackUsageSeq"] == 1
        assert status["usage"]["ackedThroughEvent"] > 0
    finally:
        assert daemon.stop() == 0


def test_init_twice_refuses_and_keeps_the_instance(tmp_path: Path) -> None:
    lls("vendor", "init", "--dir", str(tmp_path / "v"))
    args = [
        "init",
        "--data-dir",
        str(tmp_path / "d"),
        "--vendor-keys",
        str(tmp_path / "v" / "vendor.jwks"),
    ]
    lls(*args)
    before = (tmp_path / "d" / "instance.json").read_text()
    again = lls(*args, check=False)
    assert again.returncode == 1 and "already holds an instance" in again.stderr
    assert (tmp_path / "d" / "instance.json").read_text() == before


def test_serve_without_instance_says_how_to_create_one(tmp_path: Path) -> None:
    result = lls("serve", "--data-dir", str(tmp_path / "none"), check=False)
    assert result.returncode == 1
    assert "lls init" in result.stderr


def test_demo_prints_curl_lines_that_work(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.out"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lls",
                "demo",
                "--port",
                str(port),
                "--admin-port",
                str(free_port()),
                "--dir",
                str(tmp_path / "demo"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 30
        while "serving on" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        lines = [
            ln.strip() for ln in log.read_text().splitlines() if ln.strip().startswith("curl ")
        ]
        assert len(lines) >= 5
        outputs = [
            subprocess.run(
                shlex.split(ln), capture_output=True, text=True, timeout=10, check=True
            ).stdout
            for ln in lines
        ]
        assert '"authStatus":"Success"' in outputs[0]  # validate
        assert '"sessionExpiresAt":"' in outputs[1]  # activate
        assert "204" in outputs[3].splitlines()[0]  # deactivate
        assert '"instanceId"' in outputs[4]  # admin status with the printed token
    finally:
        proc.terminate()
        proc.wait(20)
