"""Project-wide contracts: layering, the OpenAPI file against the routes, documented config."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from lls.app.wiring import build_app
from lls.config.settings import SETTINGS, Config
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
    "app": {"lls.cli"},  # the wiring is below the command line that starts it
    # The settings are read by http, jobs, cli and app alike: they import none of them.
    "config": {
        "lls.domain",
        "lls.http",
        "lls.store",
        "lls.sealed",
        "lls.jobs",
        "lls.ops",
        "lls.app",
        "lls.cli",
        "lls.reload",
        "aiohttp",
        "aiosqlite",
        "sqlite3",
        "apscheduler",
    },
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


# What both stores do alike is written once (issue 13): turning rows into domain models and
# the Snapshot, the history rows' encoding, the audit query. These modules serve either
# backend, so they import no driver and neither backend; each backend imports only its own
# driver (the modules named here are SQLite's: its opening, group-commit writer, apply, reads).
STORE_SHARED = {"rows.py", "history_rows.py", "audit_query.py"}
SQLITE_ONLY = {"lls.store.sqlite", "lls.store.sqlite_apply", "lls.store.sqlite_reads"}
SQLITE_ONLY |= {"lls.store.connection", "lls.store.writer", "lls.store.backup"}


def _imports_named(path: Path) -> set[str]:
    """_imports, and each `from package import module` as package.module too."""
    names = _imports(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_shared_store_modules_import_no_backend() -> None:
    backends = {"sqlite3", "aiosqlite", "asyncpg", "lls.store.postgres", *SQLITE_ONLY}
    bad = [
        f"{name} imports {imported}"
        for name in sorted(STORE_SHARED)
        for imported in _imports_named(SRC / "store" / name)
        if any(imported == b or imported.startswith(b + ".") for b in backends)
    ]
    assert bad == []


def test_each_store_backend_imports_neither_the_other_nor_its_driver() -> None:
    sqlite_files = [SRC / "store" / f"{m.rsplit('.', 1)[1]}.py" for m in sorted(SQLITE_ONLY)]
    bad = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sqlite_files
        for name in _imports_named(path)
        if name == "asyncpg" or name.startswith("lls.store.postgres")
    ]
    bad += [
        f"{path.relative_to(SRC)} imports {name}"
        for path in (SRC / "store" / "postgres").rglob("*.py")
        for name in _imports_named(path)
        if name in {"sqlite3", "aiosqlite"} or name in SQLITE_ONLY
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


# -- the licensing facade is all that http sees (issue 13) -----------------------------

HTTP = SRC / "http"


def _methods(module: str, name: str) -> set[str]:
    """The public methods of a domain class, read from its class body."""
    tree = ast.parse((SRC / "domain" / module).read_text(encoding="utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name]
    assert cls.bases == [], f"{name}: no base classes"
    return {
        n.name
        for n in cls.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and not n.name.startswith("_")
    }


def _facade_api() -> dict[str, set[str]]:
    """What `licensing.X` may be in http: a method of Licensing, or its read side `reads`
    whose methods are Reads' (the server's own work, `upkeep`, is for app and jobs)."""
    return {"": _methods("service.py", "Licensing"), "reads": _methods("read_side.py", "Reads")}


def _is_facade(node: ast.expr, names: set[str]) -> bool:
    """`…[LICENSING]`, `self._licensing`, `_licensing(request)` or a name bound to one."""
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Name) and node.slice.id == "LICENSING"
    if isinstance(node, ast.Attribute):
        return node.attr == "_licensing"
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id == "_licensing"
    return isinstance(node, ast.Name) and node.id in names


def _facade_misuse(path: Path, api: dict[str, set[str]], root: Path = SRC) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):  # names bound to the facade: assignments and parameters
        if isinstance(node, ast.Assign) and _is_facade(node.value, set()):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.arg) and ast.unparse(node.annotation or node) == "Licensing":
            names.add(node.arg)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            where = f"{path.relative_to(root)}:{node.lineno}"
            if node.attr in ("store", "state"):
                if node.attr == "store" or _is_facade(node.value, names):
                    bad.append(f"{where} reads .{node.attr}")
            elif _is_facade(node.value, names) and node.attr not in api[""] | api.keys():
                bad.append(f"{where} reads the facade's internal .{node.attr}")
            elif (
                isinstance(node.value, ast.Attribute)
                and node.value.attr in api.keys() - {""}
                and _is_facade(node.value.value, names)
                and node.attr not in api[node.value.attr]
            ):
                bad.append(f"{where} reads the facade's internal .{node.value.attr}.{node.attr}")
    return bad


def test_http_sees_only_the_facade_methods() -> None:
    """No handler, metric, series or dashboard page reads licensing internals or the store:
    they call the facade's methods (issue 13)."""
    api = _facade_api()
    bad = [line for path in sorted(HTTP.rglob("*.py")) for line in _facade_misuse(path, api)]
    assert bad == []


def test_the_facade_check_can_fail(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f(request, licensing: Licensing):\n"
        "    lic = request.app[LICENSING]\n"
        "    return (lic.by_id, licensing.clock, request.app[LICENSING].store, lic.reads.ready(),\n"
        "            licensing.reads._state, licensing.upkeep.load(), lic.now())\n",
        encoding="utf-8",
    )
    found = _facade_misuse(probe, _facade_api(), tmp_path)
    assert [line.split(" ", 1)[1] for line in found] == [
        "reads the facade's internal .by_id",
        "reads the facade's internal .clock",
        "reads .store",
        "reads the facade's internal .reads._state",
        "reads the facade's internal .upkeep",
    ]


def test_modules_stay_small() -> None:
    """No module of src/lls over ~400 lines (issue 13): split by responsibility instead."""
    big = [
        f"{p.relative_to(SRC)}: {n}"
        for p in sorted(SRC.rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    ]
    assert big == []
