"""Project-wide contracts: layering, the OpenAPI file against the routes, documented config."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from lls.app import build_app
from lls.config import SETTINGS, Config
from lls.http.openapi import document
from lls.instance import Instance

SRC = Path(__file__).resolve().parents[1] / "src" / "lls"

# Which layer may import which (style.md: cli → app → {http, jobs} → domain ← {store, sealed}).
# `protocol` (the shapes both ends of the wire share) is below all of them: every layer,
# the client SDK too, may import it, and it imports nothing of lls but itself.
FORBIDDEN = {
    "domain": {
        "lls.http",
        "lls.store",
        "lls.sealed",
        "lls.jobs",
        "lls.app",
        "lls.cli",
        "aiohttp",
        "aiosqlite",
        "sqlite3",
        "apscheduler",
        "msgspec",
        "joserfc",
    },
    "store": {"lls.http", "lls.jobs", "lls.app", "lls.cli", "aiohttp", "apscheduler"},
    "sealed": {"lls.http", "lls.store", "lls.jobs", "lls.app", "lls.cli", "aiohttp", "sqlite3"},
    "http": {"lls.store", "lls.jobs", "lls.app", "lls.cli", "aiosqlite", "sqlite3", "apscheduler"},
    "jobs": {"lls.http", "lls.store", "lls.app", "lls.cli", "aiohttp", "aiosqlite", "sqlite3"},
    "central": {"lls.http", "lls.store", "lls.jobs", "lls.app", "aiosqlite", "sqlite3"},
    "client": {
        "lls.http",
        "lls.store",
        "lls.jobs",
        "lls.app",
        "lls.cli",
        "lls.domain",
        "aiosqlite",
        "sqlite3",
        "apscheduler",
    },
    "ops": {"lls.http", "lls.store", "lls.app", "lls.cli", "aiohttp", "aiosqlite", "sqlite3"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_its_direction_allows(layer: str) -> None:
    bad = []
    for path in (SRC / layer).rglob("*.py"):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert bad == []


def test_protocol_imports_nothing_of_lls_but_itself() -> None:
    bad = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in (SRC / "protocol").rglob("*.py")
        for name in _imports(path)
        if (name == "lls" or name.startswith("lls.")) and not name.startswith("lls.protocol")
    ]
    assert bad == []


def test_client_reaches_the_shared_shapes_through_protocol_only() -> None:
    """The SDK imports protocol (the one definition) and no server layer (FORBIDDEN above)."""
    imported = {name for path in (SRC / "client").rglob("*.py") for name in _imports(path)}

    assert {"lls.protocol.reasons", "lls.protocol.shapes", "lls.protocol.offline"} <= imported
    assert "lls.protocol.machine" in imported


# Shapes both ends of the wire share: each is defined once, in lls.protocol (issue 13).
SHARED = {
    "AuthStatus",
    "ClientInfo",
    "ValidationFields",
    "Reason",
    "Contact",
    "ContactOut",
    "FeatureInfo",
    "FeatureOut",
    "FeatureView",
    "Jwks",
    "OfflineRequestPayload",
    "OfflineResponsePayload",
    "ResponsePayload",
    "OfflineRefreshPayload",
    "RefreshPayload",
    "OfflineDeactivationPayload",
}


def test_each_shared_shape_is_defined_once_in_protocol() -> None:
    defined = sorted(
        f"{path.relative_to(SRC)}: {node.name}"
        for path in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and node.name in SHARED
    )
    elsewhere = [d for d in defined if not d.startswith("protocol/")]
    assert elsewhere == []
    assert len(defined) == len({d.split(": ")[1] for d in defined})


def test_only_protocol_reads_the_machine() -> None:
    """One reader of /etc/machine-id and /sys/class/net: the server's fingerprint and the
    client's default authContext see the same hardware."""
    readers = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "/sys/class/net" in p.read_text(encoding="utf-8")
    )
    assert readers == ["protocol/machine.py"]


def test_no_package_is_named_vendor() -> None:
    """Tools skip folders named `vendor` as third-party code (issue 13): the central side's
    code is `lls.central`; only its command line keeps the `lls vendor` verbs."""
    assert not (SRC / "vendor").exists()
    assert [p for p in SRC.rglob("vendor") if p.is_dir()] == []


def test_only_store_imports_aiosqlite_and_sqlite3() -> None:
    bad = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if p.parent.name != "store" and _imports(p) & {"aiosqlite", "sqlite3"}
    ]
    assert bad == []


def _openapi_routes() -> set[tuple[str, str]]:
    doc = document()
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}


def test_openapi_file_lists_exactly_the_served_routes(instance: Instance) -> None:
    app = build_app(Config(data_dir=instance.data_dir), instance=instance, run_jobs=False)
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        # The dashboard's HTML pages are for people, not part of the HTTP API.
        and not (route.resource.canonical + "/").startswith("/ui/")
    }
    assert served == _openapi_routes()


def test_example_config_documents_every_setting() -> None:
    text = (SRC.parents[1] / "config" / "lls.yaml").read_text(encoding="utf-8")
    for setting in SETTINGS:
        leaf = setting.key.split(".")[-1]
        assert re.search(rf"^\s*{leaf}:.*{setting.env}", text, re.M), setting.key
    assert {s.attr for s in SETTINGS} <= set(Config.__dataclass_fields__)


def _refs(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_every_schema_reference_in_the_openapi_document_resolves() -> None:
    doc = document()
    names = {
        f"#/components/{kind}/{name}"
        for kind, entries in doc["components"].items()
        for name in entries
    }

    assert _refs(doc) - names == set()


def test_openapi_hand_file_holds_no_schema_of_a_struct() -> None:
    """Shapes come from the msgspec structs (http.openapi): a hand copy would drift."""
    from lls.http.openapi import COMPONENTS

    hand = json.loads((SRC / "http" / "openapi.json").read_text(encoding="utf-8"))
    kept = set(hand["components"].get("schemas", {}))
    generated = {struct.__name__ for struct in COMPONENTS}

    assert kept & generated == set()
    assert {"ValidationResponse", "FeatureResponse", "ProblemBody"} <= set(
        document()["components"]["schemas"]
    )
