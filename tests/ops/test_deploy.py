"""What ships for monitoring works with what the server exports: promtool finds nothing wrong
with a real scrape or the alert rules, and the dashboard and alerts only ask for metrics that
exist."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC_NAME = re.compile(r"\blls_[a-z0-9_]+\b")
FEATURES = [
    {"code": "EXPORT_PDF", "type": "floating", "count": 3},
    {"code": "API_CALLS", "type": "consumption", "count": 5},
]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing on CI: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


async def busy_scrape(make_server: ServerFactory) -> str:
    """A scrape of a server that has seen a bit of everything: sessions, units, refusals."""
    server: Server = await make_server(
        [grant("LIC-A", seats=1, features=FEATURES, id="lic-a"), grant("LIC-B", seats=2)]
    )
    await server.activate("LIC-A", "pc-1")
    await server.call(
        "features/checkout", licenseToken="LIC-A", authContext="pc-1", featureCode="EXPORT_PDF"
    )
    await server.call("activate", licenseToken="LIC-A", productCodes=[PRODUCT], authContext="pc-2")
    await server.call("validate", licenseToken="NO-SUCH-TOKEN")
    await server.client.get("/licensing/instance")
    await server.licensing.export_usage()
    return await (await server.client.get("/metrics")).text()


def exported_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def queries(node: Any) -> list[str]:
    """Every PromQL string of a Grafana dashboard: panel targets and variable queries."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            elif key == "query" and isinstance(value, str | dict):
                found.extend([value] if isinstance(value, str) else queries(value))
            else:
                found.extend(queries(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(queries(item))
    return found


async def test_promtool_check_metrics_finds_nothing_in_a_real_scrape(
    make_server: ServerFactory,
) -> None:
    tool = promtool()
    text = await busy_scrape(make_server)
    result = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_promtool_accepts_the_alert_rules_and_their_unit_tests() -> None:
    tool = promtool()
    rules = DEPLOY / "prometheus"
    checked = subprocess.run(
        [tool, "check", "rules", "alerts.yml"], cwd=rules, capture_output=True, text=True
    )
    tested = subprocess.run(
        [tool, "test", "rules", "alerts_test.yml"], cwd=rules, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert tested.returncode == 0, tested.stdout + tested.stderr


async def test_dashboard_queries_only_metrics_the_server_exports(
    make_server: ServerFactory,
) -> None:
    exported = exported_names(await busy_scrape(make_server))
    dashboard = json.loads((DEPLOY / "grafana" / "lls.json").read_text(encoding="utf-8"))
    used = {name for q in queries(dashboard) for name in METRIC_NAME.findall(q)}
    assert dashboard["panels"] and used
    assert used - exported == set()


async def test_alert_rules_only_use_metrics_the_server_exports(
    make_server: ServerFactory,
) -> None:
    exported = exported_names(await busy_scrape(make_server))
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    exprs = [rule["expr"] for group in doc["groups"] for rule in group["rules"]]
    used = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert used - exported == set()


def test_dashboard_panels_cover_seats_denials_pool_clock_and_usage_export() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "lls.json").read_text(encoding="utf-8"))
    text = " ".join(queries(dashboard))
    for needed in (
        "lls_license_seats_used",
        "lls_license_seats",
        "lls_denials_total",
        "lls_pool_time_to_expiry_seconds",
        "lls_clock_tampered",
        "lls_usage_export_timestamp_seconds",
    ):
        assert needed in text, needed
