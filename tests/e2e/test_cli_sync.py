"""The admin's air-gap chores with the real command line: usage files, offline tokens, bindings."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from lls.client.offline import OfflineDevice
from lls.instance import Instance
from lls.sealed import read_sealed_file
from tests.e2e.conftest import Daemon, lls
from tests.pools import PRODUCT, grant


def test_usage_export_with_and_without_a_running_server(
    daemon: Daemon, pool_file: Any, instance: Instance, tmp_path: Path
) -> None:
    data = str(daemon.data_dir)
    lls("pool", "import", str(pool_file([grant("A", seats=2)])), "--data-dir", data)
    out1 = tmp_path / "usage-1.lls"
    lls("usage", "export", "--data-dir", data, "--out", str(out1))  # no server: data dir
    daemon.start()
    daemon.post(
        "/licensing/activate", {"licenseToken": "A", "productCodes": [PRODUCT], "authContext": "pc"}
    )
    out2 = tmp_path / "usage-2.lls"
    printed = lls("usage", "export", "--data-dir", data, "--out", str(out2)).stdout
    assert "seq 2" in printed
    assert out2.read_text().startswith("# kind: lls-usage+jws")
    assert read_sealed_file(out2).count(".") == 4


def test_offline_tokens_through_the_cli(
    daemon: Daemon, pool_file: Any, instance: Instance, tmp_path: Path
) -> None:
    data = str(daemon.data_dir)
    lls("pool", "import", str(pool_file([grant("OFF", seats=1)])), "--data-dir", data)
    device = OfflineDevice(tmp_path / "device.jwks")
    device.pin_server(
        {"instanceId": instance.instance_id, "keys": instance.keys.public().to_jwks()}
    )
    request = tmp_path / "request.lls"
    request.write_text(device.offline_request("OFF", [PRODUCT], "field-unit-7"))
    response = tmp_path / "response.lls"
    # No server running: the CLI applies the token to the data directory itself.
    lls("offline", "activate", str(request), "--data-dir", data, "--out", str(response))
    lease = device.apply_response(read_sealed_file(response))
    assert device.has_valid_lease()
    daemon.start()
    listed = json.loads(lls("offline", "list", "--data-dir", data, "--json").stdout)
    assert [a["activationId"] for a in listed["activations"]] == [lease.activation_id]
    body = daemon.post(
        "/licensing/activate",
        {"licenseToken": "OFF", "productCodes": [PRODUCT], "authContext": "desk"},
    )[1]
    assert body["reason"] == "SESSION_LIMIT_REACHED"  # the offline seat counts
    refresh = tmp_path / "refresh.lls"
    lls("offline", "refresh", lease.activation_id, "--data-dir", data, "--out", str(refresh))
    assert device.apply_refresh(read_sealed_file(refresh)).activation_id == lease.activation_id
    deactivation = tmp_path / "deactivation.lls"
    deactivation.write_text(device.deactivation_token())
    assert not device.has_valid_lease()
    lls("offline", "deactivate", str(deactivation), "--data-dir", data)
    body = daemon.post(
        "/licensing/activate",
        {"licenseToken": "OFF", "productCodes": [PRODUCT], "authContext": "desk"},
    )[1]
    assert body["authStatus"] == "Success"


def test_dissociate_unlock_and_environment_release_through_the_cli(
    daemon: Daemon, pool_file: Any
) -> None:
    data = str(daemon.data_dir)
    misuse = {"maxAuthContexts": 1, "windowSeconds": 3600}
    lls(
        "pool",
        "import",
        str(pool_file([grant("NODE", type="node-locked"), grant("SHARE", seats=5, misuse=misuse)])),
        "--data-dir",
        data,
    )
    daemon.start()

    def activate(token: str, ctx: str) -> Any:
        return daemon.post(
            "/licensing/activate",
            {"licenseToken": token, "productCodes": [PRODUCT], "authContext": ctx},
        )[1]

    activate("NODE", "pc-1")
    assert activate("NODE", "pc-2")["reason"] == "NODE_LOCKED"
    out = lls("licenses", "dissociate", "NODE", "--auth-context", "pc-1", "--data-dir", data)
    assert "no longer bound to pc-1" in out.stdout
    assert activate("NODE", "pc-2")["authStatus"] == "Success"

    activate("SHARE", "a")
    assert activate("SHARE", "b")["authStatus"] == "Locked"
    table = lls("licenses", "--data-dir", data).stdout
    assert "SHARE" in table and "yes" in table
    lls("licenses", "unlock", "SHARE", "--data-dir", data)
    assert activate("SHARE", "a")["authStatus"] == "Success"

    envs = json.loads(lls("environments", "--data-dir", data, "--json").stdout)
    assert {"authContext": "a", "orgId": "org-42"} in envs["environments"]
    lls("environments", "release", "a", "--data-dir", data)
    refused = lls("environments", "release", "a", "--data-dir", data, check=False)
    assert refused.returncode == 1 and "not bound" in refused.stderr


def test_drop_folders_are_served_by_the_running_daemon(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    daemon.env = {
        "LLS_SYNC_INBOX": str(inbox),
        "LLS_SYNC_OUTBOX": str(outbox),
        "LLS_SYNC_INTERVAL_S": "0.3",
        "LLS_SYNC_USAGE_INTERVAL_S": "0.5",
        "LLS_SYNC_SETTLE_S": "0",
    }
    daemon.start()
    first = pool_file([grant("DROPPED")], seq=1)
    (inbox / "pool-1.lls").write_bytes(first.read_bytes())
    (inbox / "junk.lls").write_text("not a pool")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (
        not (inbox / "done" / "pool-1.lls").exists() or not list(outbox.glob("usage-*.lls"))
    ):
        time.sleep(0.1)
    assert (inbox / "done" / "pool-1.lls").exists()
    assert (inbox / "refused" / "junk.lls.reason").read_text().startswith("BAD_ENVELOPE")
    assert daemon.post("/licensing/validate", {"licenseToken": "DROPPED"})[1]["authStatus"] == (
        "Success"
    )
    assert list(outbox.glob("usage-*.lls"))
