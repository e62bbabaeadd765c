"""Acknowledged changes survive kill -9 of the daemon; SIGTERM shuts down cleanly."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.conftest import Daemon, lls
from tests.pools import PRODUCT, grant


def test_kill9_after_acknowledged_activates_keeps_every_session(
    daemon: Daemon, pool_file: Any
) -> None:
    lls(
        "pool",
        "import",
        str(pool_file([grant("BIG", seats=50)])),
        "--data-dir",
        str(daemon.data_dir),
    )
    daemon.start()

    def activate(i: int) -> str:
        _, body = daemon.post(
            "/licensing/activate",
            {"licenseToken": "BIG", "productCodes": [PRODUCT], "authContext": f"host-{i}"},
        )
        return str(body["authStatus"])

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(activate, range(40)))
    assert results == ["Success"] * 40
    daemon.kill9()

    daemon.start()
    for i in range(40):  # every acknowledged session is live: extend (never revives) succeeds
        _, body = daemon.post(
            "/licensing/extend",
            {"licenseToken": "BIG", "productCodes": [PRODUCT], "authContext": f"host-{i}"},
        )
        assert body["authStatus"] == "Success", (i, body)
    _, body = daemon.post(
        "/licensing/extend",
        {"licenseToken": "BIG", "productCodes": [PRODUCT], "authContext": "host-never"},
    )
    assert body["reason"] == "NO_ACTIVE_SESSION"


def test_sigterm_exits_zero_and_removes_server_file(daemon: Daemon, pool_file: Any) -> None:
    lls("pool", "import", str(pool_file([grant("A")])), "--data-dir", str(daemon.data_dir))
    daemon.start()
    server_file = daemon.data_dir / "server.json"
    assert json.loads(server_file.read_text())["url"] == daemon.admin_url
    assert daemon.stop() == 0
    assert not server_file.exists()


def test_pool_import_goes_through_running_server(daemon: Daemon, pool_file: Any) -> None:
    lls("pool", "import", str(pool_file([grant("A")], seq=1)), "--data-dir", str(daemon.data_dir))
    daemon.start()
    out = lls(
        "pool",
        "import",
        str(pool_file([grant("A"), grant("B")], seq=2)),
        "--data-dir",
        str(daemon.data_dir),
    )
    assert "running server" in out.stdout
    _, body = daemon.post("/licensing/validate", {"licenseToken": "B"})
    assert body["authStatus"] == "Success"
    again = lls(
        "pool",
        "import",
        str(pool_file([grant("A")], seq=2)),
        "--data-dir",
        str(daemon.data_dir),
        check=False,
    )
    assert again.returncode == 1
    assert "not newer" in again.stderr


def test_consumption_and_bindings_survive_kill9_and_newer_pool(
    daemon: Daemon, pool_file: Any
) -> None:
    feats = [
        {"code": "API_CALLS", "type": "consumption", "count": 10},
        {"code": "PDF", "type": "floating", "count": 2},
    ]
    lls(
        "pool",
        "import",
        str(
            pool_file([grant("C", seats=5, features=feats), grant("N", type="node-locked")], seq=1)
        ),
        "--data-dir",
        str(daemon.data_dir),
    )
    daemon.start()
    ok = {"licenseToken": "C", "productCodes": [PRODUCT], "authContext": "pc"}
    assert daemon.post("/licensing/activate", ok)[1]["authStatus"] == "Success"
    for _ in range(3):
        _, body = daemon.post(
            "/licensing/features/checkout",
            {"licenseToken": "C", "authContext": "pc", "featureCode": "API_CALLS", "quantity": 2},
        )
        assert body["authStatus"] == "Success"
    daemon.post(
        "/licensing/features/checkout",
        {"licenseToken": "C", "authContext": "pc", "featureCode": "PDF", "quantity": 2},
    )
    daemon.post(
        "/licensing/activate",
        {"licenseToken": "N", "productCodes": [PRODUCT], "authContext": "pc-1"},
    )
    daemon.kill9()
    lls(
        "pool",
        "import",
        str(
            pool_file([grant("C", seats=5, features=feats), grant("N", type="node-locked")], seq=2)
        ),
        "--data-dir",
        str(daemon.data_dir),
    )
    daemon.start()
    _, body = daemon.post("/licensing/validate", {"licenseToken": "C"})
    by_code = {f["code"]: f["available"] for f in body["features"]}
    assert by_code == {"API_CALLS": 4, "PDF": 0}  # 6 consumed; the live session still holds 2
    _, body = daemon.post(
        "/licensing/activate",
        {"licenseToken": "N", "productCodes": [PRODUCT], "authContext": "pc-2"},
    )
    assert body["reason"] == "NODE_LOCKED"
