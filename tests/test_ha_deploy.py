"""deploy/ha and docs/ha.md agree with the code: settings that exist, the probe that decides."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from lls.config.settings import SETTINGS
from lls.http.ha import UNGATED

ROOT = Path(__file__).resolve().parents[1]
HA = ROOT / "deploy" / "ha"


def test_compose_nodes_use_only_real_settings_and_a_store() -> None:
    doc = yaml.safe_load((HA / "compose.yaml").read_text(encoding="utf-8"))
    variables = {s.env for s in SETTINGS}
    nodes = [s for name, s in doc["services"].items() if name.startswith("lls-")]
    assert len(nodes) == 2
    for node in nodes:
        env = node["environment"]
        unknown = {k for k in env if k.startswith("LLS_")} - variables
        assert unknown == set()
        assert env["LLS_STORE_URL"].startswith("postgresql://")
        assert env["LLS_HA_ADVERTISE_URL"].startswith("http://")
    assert doc["services"]["db"]["image"].startswith("postgres:15")


def test_haproxy_checks_readyz_which_a_standby_answers_itself() -> None:
    cfg = (HA / "haproxy.cfg").read_text(encoding="utf-8")
    assert re.search(r"option httpchk GET /readyz", cfg)
    assert "http-check expect status 200" in cfg
    assert "/readyz" in UNGATED and "/healthz" in UNGATED


def test_docs_name_the_settings_commands_and_pg_dump() -> None:
    text = (ROOT / "docs" / "ha.md").read_text(encoding="utf-8")
    for needle in (
        "store.url",
        "LLS_STORE_URL",
        "ha.advertise_url",
        "pg_dump",
        "lls init --store",
        "lls node join",
        "Database access is instance access",
        "keepalived",
        "option httpchk GET /readyz",
        "NOT_LEADER",
        "DATABASE_COPIED",
        "NODE_NOT_JOINED",
    ):
        assert needle in text, needle
