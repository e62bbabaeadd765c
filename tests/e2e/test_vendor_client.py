"""An unchanged client of the vendor's online API (examples/vendor_client.py) on `lls serve`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Daemon, lls
from tests.pools import PRODUCT, grant

CLIENT = Path(__file__).resolve().parents[2] / "examples" / "vendor_client.py"


def vendor_client(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CLIENT), daemon.url, "SITE-1", PRODUCT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def serve(daemon: Daemon, pool_file: Any, **env: str) -> None:
    lls(
        "pool",
        "import",
        str(pool_file([grant("SITE-1", seats=1)])),
        "--data-dir",
        str(daemon.data_dir),
    )
    daemon.env.update(env)
    daemon.start()


def test_vendor_client_imports_nothing_but_the_standard_library() -> None:
    tree = ast.parse(CLIENT.read_text(encoding="utf-8"))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert {name.split(".")[0] for name in imported} <= set(sys.stdlib_module_names) | {
        "__future__"
    }


def test_vendor_client_passes_against_lls_serve_with_and_without_auth_context(
    daemon: Daemon, pool_file: Any
) -> None:
    serve(daemon, pool_file)
    with_context = vendor_client(daemon, "--auth-context", "desk-7")
    without_context = vendor_client(daemon)
    strict = vendor_client(daemon, "--strict")  # a strict client notices LLS's additions
    assert daemon.stop() == 0
    assert with_context.returncode == 0, with_context.stderr
    assert without_context.returncode == 0, without_context.stderr
    assert "activate: Success, ACME_PRO for Acme Trading Corp (John Doe)" in without_context.stdout
    assert strict.returncode == 1
    assert "undocumented members: ['reason'" in strict.stderr


def test_vendor_client_in_strict_mode_passes_against_lls_with_vendor_fields_only(
    daemon: Daemon, pool_file: Any
) -> None:
    serve(daemon, pool_file, LLS_COMPAT_VENDOR_FIELDS_ONLY="1")
    strict = vendor_client(daemon, "--strict")
    assert daemon.stop() == 0
    assert strict.returncode == 0, strict.stderr
