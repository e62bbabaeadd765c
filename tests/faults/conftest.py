"""Fault-suite fixtures: root-only helpers (tmpfs, network namespaces) that clean up after
themselves, skip with a reason when not root, and fail instead of skipping on CI."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lls.instance import Instance, init_instance
from lls.sealed import write_sealed_file
from tests.e2e.conftest import Daemon, free_port, lls
from tests.faults.ledger import FEATURE
from tests.faults.tmpfs import Tmpfs, run
from tests.pools import VendorKeys, grant, make_pool


def require_root(what: str) -> None:
    """Skip (with the reason) unless root; on CI (CI=true) fail instead: CI runs as root."""
    if os.geteuid() == 0:
        return
    message = f"needs root to {what}; run the fault suite as root (CI does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Any]:
    """`tmpfs(size_mib)` mounts one under tmp_path; every mount is unmounted afterwards."""
    mounts: list[Tmpfs] = []

    def mount(size_mib: int) -> Tmpfs:
        require_root("mount a tmpfs")
        fs = Tmpfs(tmp_path / f"disk{len(mounts)}", size_mib)
        mounts.append(fs)
        return fs

    yield mount
    for fs in mounts:
        fs.unmount()


@pytest.fixture
def netns() -> Iterator[Any]:
    """`netns()` makes a named network namespace (lo up); each is deleted afterwards, and with
    it every interface created inside."""
    made: list[str] = []

    def make() -> str:
        require_root("create network namespaces")
        name = f"lls-i9-{secrets.token_hex(4)}"
        run("ip", "netns", "add", name)
        made.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    yield make
    for name in made:
        with contextlib.suppress(subprocess.CalledProcessError):
            run("ip", "netns", "delete", name)


def licenses_for(singles: int, triples: int, units: int = 3) -> list[dict[str, Any]]:
    """Single-seat licenses (exactly-one-wins under contention) and three-seat ones, each
    with a floating feature."""
    features = [{"code": FEATURE, "type": "floating", "count": units}]
    return [grant(f"ONE-{i}", seats=1, features=features) for i in range(singles)] + [
        grant(f"THREE-{i}", seats=3, features=features) for i in range(triples)
    ]


def new_instance(data_dir: Path, tmp_path: Path, vendor: VendorKeys) -> Instance:
    return init_instance(data_dir, vendor.write_jwks(tmp_path / "vendor.jwks"))


def import_pool(
    instance: Instance, vendor: VendorKeys, licenses: list[dict[str, Any]], where: Path
) -> None:
    path = where / "pool.lls"
    write_sealed_file(path, make_pool(vendor, instance, licenses), {"kind": "pool"})
    lls("pool", "import", str(path), "--data-dir", str(instance.data_dir))


def daemon_on(data_dir: Path, **kw: Any) -> Daemon:
    return Daemon(data_dir=data_dir, port=free_port(), **kw)
