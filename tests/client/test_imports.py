"""The SDK is embedded in applications: it must not pull in the server's layers."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "lls"
SERVER_SIDE = (
    "lls.domain",
    "lls.store",
    "lls.http",
    "lls.jobs",
    "lls.app",
    "lls.cli",
    "lls.config",
)
PREFIXES = tuple(f"{name}." for name in SERVER_SIDE)


def test_client_imports_no_server_layer() -> None:
    bad = []
    for path in (SRC / "client").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            bad += [
                f"{path.name}: {n}" for n in names if n in SERVER_SIDE or n.startswith(PREFIXES)
            ]
    assert bad == []
