"""Point 9 of issue 10: the server and its OpenAPI document agree, in both directions.

Schemathesis reads `/openapi.json` from a real `lls serve` and runs every route —
the client API and the ops routes on the client listener, the admin API with the
admin token on its own listener — for a bounded number of examples, with every
check: no 5xx, every status and content type documented, every answer matching
its schema, every schema-valid request accepted and every invalid one refused.
The seed is fixed so CI is reproducible (LLS_SCHEMATHESIS_SEED picks another).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lls.http.openapi import document
from lls.instance import init_instance
from lls.sealed import write_sealed_file
from tests.e2e.conftest import Daemon, free_port, lls
from tests.pools import VendorKeys, grant, make_pool

SEED = os.environ.get("LLS_SCHEMATHESIS_SEED", "20261201")
EXAMPLES = os.environ.get("LLS_SCHEMATHESIS_EXAMPLES", "25")
CLIENT_PATHS = r"^/(licensing|healthz|readyz|metrics|openapi)"
ADMIN_PATHS = r"^/admin/"
# A well-formed request an admin rule refuses (a token that is not a sealed file, a
# license that is not bound) is 422 by design: schemas cannot say what a valid
# signature is. Client routes never answer 422, so they get no such allowance. The paged
# lists and the history may also answer 400 to a well-formed query: an opaque cursor this
# server did not give, or a range of more than 10,000 steps or ending before it starts,
# cannot be told apart by a schema (the 400 names the field; tests/http cover each).
CONFIG = """\
[generation]
database = "none"

[[operations]]
include-path-regex = '^/admin/(?!v1/licenses$|v1/sessions$|v1/licenses/[^/]+/history$)'
checks.positive_data_acceptance.expected-statuses = [
  "2XX", "401", "403", "404", "409", "422", "429",
]

[[operations]]
include-path-regex = '^/admin/v1/(licenses|sessions)$|^/admin/v1/licenses/[^/]+/history$'
checks.positive_data_acceptance.expected-statuses = [
  "2XX", "400", "401", "403", "404", "409", "422", "429",
]
"""


def _schemathesis() -> Path:
    found = Path(sys.executable).parent / "schemathesis"
    if not found.exists():
        pytest.fail("schemathesis is not installed: it is a dev extra (pip install -e '.[dev]')")
    return found


def _operations(pattern: str) -> int:
    paths = document()["paths"]
    return sum(len(ops) for path, ops in paths.items() if re.match(pattern, path))


def _run(config: Path, spec: str, base: str, pattern: str, *extra: str) -> tuple[int, str]:
    result = subprocess.run(
        [
            str(_schemathesis()),
            "--config-file",
            str(config),
            "--no-color",
            "run",
            spec,
            "--url",
            base,
            "--include-path-regex",
            pattern,
            "--checks",
            "all",
            "--max-examples",
            EXAMPLES,
            "--seed",
            SEED,
            "--workers",
            "1",
            "--request-timeout",
            "10",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=config.parent,  # schemathesis keeps a crash cache in its working directory
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, vendor: VendorKeys
) -> Iterator[tuple[Daemon, Path]]:
    """One daemon for both runs (starting one costs seconds): a pool, throttles off."""
    root = tmp_path_factory.mktemp("schemathesis")
    instance = init_instance(root / "data", vendor.write_jwks(root / "vendor.jwks"))
    licenses = [
        grant("A", seats=3, features=[{"code": "F", "type": "floating", "count": 5}]),
        grant("NODE", type="node-locked"),
    ]
    pool = root / "pool.lls"
    write_sealed_file(pool, make_pool(vendor, instance, licenses), {"kind": "pool"})
    lls("pool", "import", str(pool), "--data-dir", str(instance.data_dir))
    daemon = Daemon(data_dir=instance.data_dir, port=free_port())
    # The throttles would answer most generated calls 429 and test nothing behind them.
    daemon.env.update(
        {"LLS_UNKNOWN_TOKEN_FAILURES": "1000000000", "LLS_ADMIN_TOKEN_FAILURES": "1000000000"}
    )
    daemon.start()
    config = root / "schemathesis.toml"
    config.write_text(CONFIG)
    try:
        yield daemon, config
    finally:
        daemon.stop()


def test_client_and_ops_routes_agree_with_the_document(fuzzed: tuple[Daemon, Path]) -> None:
    daemon, config = fuzzed

    code, out = _run(config, daemon.url + "/openapi.json", daemon.url, CLIENT_PATHS)

    assert code == 0, out[-6000:]
    assert f"Tested: {_operations(CLIENT_PATHS)}" in out, out[-3000:]
    assert "No issues found" in out or "passed" in out


def test_admin_routes_with_the_token_agree_with_the_document(fuzzed: tuple[Daemon, Path]) -> None:
    daemon, config = fuzzed
    token = (daemon.data_dir / "admin.token").read_text().strip()

    code, out = _run(
        config,
        daemon.url + "/openapi.json",
        daemon.admin_url,
        ADMIN_PATHS,
        "--header",
        f"Authorization: Bearer {token}",
    )

    assert code == 0, out[-6000:]
    assert f"Tested: {_operations(ADMIN_PATHS)}" in out, out[-3000:]
    assert daemon.proc is not None and daemon.proc.poll() is None
