"""The air-gapped install: `make bundle` builds the offline tarball, and it installs with no
network (pip --no-index, and in a network namespace with only loopback when we are root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"

pytestmark = pytest.mark.timeout(900)


def offline(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    """Run without a network: a namespace of its own (root) and no pip configuration."""
    cut = ["unshare", "-n"] if os.geteuid() == 0 and shutil.which("unshare") else []
    env = {"PATH": f"{BASE_PYTHON.parent}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/nonexistent"}
    return subprocess.run(
        [*cut, *map(str, argv)], capture_output=True, text=True, timeout=600, env=env, check=False
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        ["make", "-o", f"{VENV}/.installed-stamp", "bundle", f"VENV={VENV}", f"DIST={dist}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    found = sorted(dist.glob("lls-*-offline.tar.gz"))
    assert len(found) == 1, built.stdout
    return found[0]


@pytest.fixture(scope="module")
def installed(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("airgap")
    with tarfile.open(bundle) as tar:
        tar.extractall(where, filter="data")
    script = next(where.glob("lls-*-offline/install.sh"))
    prefix = where / "opt-lls"
    done = offline(script, "--prefix", prefix, "--no-service", "--python", BASE_PYTHON)
    assert done.returncode == 0, done.stdout + done.stderr
    return prefix


def test_bundle_holds_every_wheel_the_unit_the_config_and_the_installer(bundle: Path) -> None:
    with tarfile.open(bundle) as tar:
        names = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in tar.getnames()[1:]}
        mode = tar.getmember(f"{bundle.name.removesuffix('.tar.gz')}/install.sh").mode
    assert {"install.sh", "lls.service", "lls.yaml", "MANIFEST.txt"} <= names
    assert mode & 0o111
    wheels = {n.split("/")[1].split("-")[0].lower() for n in names if n.endswith(".whl")}
    assert {"lls", "aiohttp", "cryptography", "msgspec", "pyyaml", "rich", "uvloop"} <= wheels
    assert not any(n.endswith((".tar.gz", ".zip")) for n in names if n.startswith("wheels/"))


def test_the_namespace_the_install_runs_in_has_no_network() -> None:
    if os.geteuid() != 0:
        pytest.skip("a network namespace needs root; the install still uses pip --no-index")
    links = offline("ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in links.stdout.splitlines()] == ["lo"]


def test_offline_install_runs_lls_version_and_init(installed: Path, tmp_path: Path) -> None:
    lls = installed / "bin" / "lls"
    version = offline(lls, "--version")
    assert version.returncode == 0 and version.stdout.startswith("lls "), version.stderr
    made = offline(lls, "vendor", "init", "--dir", tmp_path / "V")
    assert made.returncode == 0, made.stderr
    init = offline(
        lls, "init", "--data-dir", tmp_path / "data", "--vendor-keys", tmp_path / "V/vendor.jwks"
    )
    assert init.returncode == 0, init.stderr
    assert init.stdout.startswith("initialised instance lls-")
    assert (tmp_path / "data" / "admin.token").stat().st_mode & 0o777 == 0o600


def test_install_refuses_an_unknown_option(bundle: Path, tmp_path: Path) -> None:
    with tarfile.open(bundle) as tar:
        tar.extractall(tmp_path, filter="data")
    script = next(tmp_path.glob("lls-*-offline/install.sh"))
    done = offline(script, "--prefx", tmp_path / "x")
    assert done.returncode == 2 and "unknown option --prefx" in done.stderr
