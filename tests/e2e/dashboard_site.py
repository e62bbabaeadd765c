"""A real site for the dashboard's browser tests: vendor workspace, instance, `lls serve` with
its own admin listener, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lls.instance import Instance, init_instance
from lls.registration import build_registration
from lls.vendor.workspace import VendorWorkspace
from tests.e2e.conftest import Daemon, free_port

CHROMIUM = "/usr/bin/chromium"
# Playwright's own browser download cannot run here: Debian's Chromium, headless, quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PRODUCT = "E2E_PRO"
GRANTS: dict[str, Any] = {
    "org": {"id": "org-e2e", "name": "Example Engineering Ltd"},
    "validDays": 365,
    "licenses": [
        {
            "token": "E2E-ONE-0001",
            "productCodes": [PRODUCT],
            "type": "floating",
            "seats": 1,
            "companyName": "Example Engineering Ltd",
        },
        {
            "token": "E2E-MANY-0002",
            "productCodes": [PRODUCT, "E2E_CAD"],
            "type": "floating",
            "seats": 5,
            "companyName": "Example Engineering Ltd",
            "features": [
                {"code": "EXPORT_PDF", "type": "floating", "count": 4},
                {"code": "API_CALLS", "type": "consumption", "count": 1000},
                {"code": "DARK_MODE", "type": "boolean"},
            ],
        },
        *(
            {"token": token, "productCodes": [PRODUCT], "type": "floating", "seats": seats}
            for token, seats in (
                ("E2E-KEYS-0004", 1),
                ("E2E-SOLO-0005", 1),
                ("E2E-VIEW-0006", 2),
                ("E2E-CSRF-0007", 2),
                ("E2E-HIST-0008", 2),
            )
        ),
        {  # a seat a laptop may borrow for the road, up to a day
            "token": "E2E-ROAD-0008",
            "productCodes": [PRODUCT],
            "type": "floating",
            "seats": 1,
            "borrowMaxSeconds": 86400,
        },
        {
            "token": "E2E-NODE-0003",
            "productCodes": [PRODUCT],
            "type": "node-locked",
            "seats": 1,
            "companyName": "Northwind Surveying",
        },
    ],
}


def need_chromium() -> None:
    """Skip where Chromium is missing (a developer's laptop); never on CI, which installs it."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs the chromium package")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


@dataclass
class Site:
    """One customer site: the vendor's workspace, the instance, and its running daemon."""

    root: Path
    vendor: VendorWorkspace
    instance: Instance
    daemon: Daemon
    admin_port: int

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}/ui/"

    @property
    def vendor_dir(self) -> Path:
        return self.root / "vendor"

    @property
    def viewer_token(self) -> str:
        return (self.instance.data_dir / "viewer.token").read_text(encoding="utf-8").strip()

    def issue_pool(self, name: str, grants: dict[str, Any] | None = None) -> Path:
        """The vendor's next pool file (next seq) for this instance."""
        path = self.root / name
        self.vendor.issue_to_file(
            self.instance.instance_id, grants or GRANTS, int(time.time()), path
        )
        return path

    def licensing(self, call: str, token: str, ctx: str) -> dict[str, Any]:
        """A device's call on the client listener, as an application makes it."""
        body = {"licenseToken": token, "productCodes": [PRODUCT], "authContext": ctx}
        status, doc = self.daemon.post(f"/licensing/{call}", body)
        assert status == 200, doc
        result: dict[str, Any] = doc
        return result

    def admin(self, path: str) -> tuple[int, Any]:
        """The admin API on the admin listener, with the admin token."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.admin_port}{path}",
            headers={"Authorization": f"Bearer {self.instance.admin_token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def session_ids(self, token: str) -> list[str]:
        status, doc = self.admin(f"/admin/v1/sessions?license={token}")
        assert status == 200, doc
        return [s["id"] for s in doc["sessions"]]


def start_site(root: Path) -> Site:
    """Vendor and instance made as in `lls demo`, the first pool imported, the daemon up
    with a separate admin listener (where the dashboard lives) on a free port."""
    vendor = VendorWorkspace.init(root / "vendor", "vendor:e2e")
    instance = init_instance(root / "data", root / "vendor" / "vendor.jwks")
    registration, _ = build_registration(instance)
    vendor.register(registration)
    admin_port = free_port()
    daemon = Daemon(
        data_dir=instance.data_dir,
        port=free_port(),
        env={"LLS_ADMIN_PORT": str(admin_port), "LLS_UI_REFRESH_S": "1"},
    )
    site = Site(root, vendor, instance, daemon, admin_port)
    first = site.issue_pool("pool-1.lls")
    daemon.start()
    request = urllib.request.Request(
        f"http://127.0.0.1:{admin_port}/admin/v1/pool",
        data=first.read_bytes(),
        method="POST",
        headers={"Authorization": f"Bearer {instance.admin_token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200
    return site
