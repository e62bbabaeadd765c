"""`lls demo`: throwaway vendor and instance, a demo pool, the server, curl lines that work."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from importlib import resources
from pathlib import Path

import yaml

from lls.app.daemon import serve
from lls.app.licensing import import_pool_offline
from lls.central.workspace import VendorWorkspace
from lls.config.settings import Config
from lls.instance import init_instance
from lls.registration import build_registration

DEMO_TOKEN = "DEMO-FLOAT-0001"  # noqa: S105 - a demo license key, printed on purpose
DEMO_PRODUCT = "DEMO_PRO"


def _curl_lines(url: str, admin_url: str, admin_token: str) -> str:
    body = (
        f'{{"licenseToken":"{DEMO_TOKEN}","productCodes":["{DEMO_PRODUCT}"],"authContext":"my-pc"}}'
    )
    json_header = "-H 'Content-Type: application/json'"
    validate = f'{{"licenseToken":"{DEMO_TOKEN}"}}'
    return "\n".join(
        [
            f"  curl -s {url}/licensing/validate {json_header} -d '{validate}'",
            f"  curl -s {url}/licensing/activate {json_header} -d '{body}'",
            f"  curl -s {url}/licensing/extend {json_header} -d '{body}'",
            f"  curl -s -i {url}/licensing/deactivate {json_header}"
            f' -d \'{{"licenseToken":"{DEMO_TOKEN}","authContext":"my-pc"}}\'',
            f"  curl -s {admin_url}/admin/v1/status -H 'Authorization: Bearer {admin_token}'",
            f"  curl -s {admin_url}/admin/v1/sessions -H 'Authorization: Bearer {admin_token}'",
        ]
    )


def _dashboard_lines(config: Config, admin_token: str) -> str:
    """Where the web dashboard is (the admin listener when there is one) and how to sign in."""
    host, port = (
        (config.admin_host, config.admin_port)
        if config.separate_admin
        else (
            config.host,
            config.port,
        )
    )
    host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
    viewer = (config.data_dir / "viewer.token").read_text(encoding="utf-8").strip()
    return "\n".join(
        [
            f"dashboard: http://{host}:{port}/ui/",
            f"  sign in with the admin token {admin_token}",
            f"  or, to look without changing anything, the viewer token {viewer}",
        ]
    )


def prepare_demo(workdir: Path) -> Config:
    """Create vendor, instance and pool under `workdir`; returns the instance's config."""
    vendor = VendorWorkspace.init(workdir / "vendor", "vendor:demo")
    instance = init_instance(workdir / "data", workdir / "vendor" / "vendor.jwks")
    registration, _ = build_registration(instance)
    vendor.register(registration)
    grants = yaml.safe_load((resources.files("lls.demo") / "grants.yaml").read_text("utf-8"))
    pool_path = workdir / "pool-1.lls"
    vendor.issue_to_file(instance.instance_id, grants, int(time.time()), pool_path)
    config = Config(data_dir=instance.data_dir)
    asyncio.run(import_pool_offline(config, pool_path.read_text(encoding="utf-8")))
    return config


def _url(host: str, port: int) -> str:
    return f"http://{'127.0.0.1' if host in {'0.0.0.0', '::'} else host}:{port}"  # noqa: S104


def run_demo(*, host: str, port: int, workdir: Path | None, admin_port: int = 8081) -> int:
    """Prepare the demo, print how to use it, and serve until Ctrl-C."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="lls-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config = prepare_demo(workdir).with_overrides(host=host, port=port, admin_port=admin_port)
    url = _url(host, port)
    admin_url = _url(config.admin_host, admin_port) if admin_port else url
    admin_token = (config.data_dir / "admin.token").read_text(encoding="utf-8").strip()
    print(f"LLS demo in {workdir} (vendor workspace, instance data, pool file)")
    print(
        f"demo licenses: {DEMO_TOKEN} (3 seats, features, may be borrowed for 7 days),"
        " DEMO-TRIAL-0001, DEMO-NODE-0001"
    )
    print(f"admin API on {admin_url} (this machine only), token {admin_token}")
    print(f"serving on {url} — try:")
    print(_curl_lines(url, admin_url, admin_token))
    print(_dashboard_lines(config, admin_token), flush=True)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(config)
    return 0
