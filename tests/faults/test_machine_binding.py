"""Machine binding in real network namespaces: a new veth pair does not unbind the machine,
a copied data directory under another machine id is refused.

Everything runs in namespaces these tests create (never the host's interfaces):
`ip netns exec` gives the server a private /sys showing only that namespace's
interfaces, and the tests' HTTP calls enter the namespace too (Daemon.netns).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from lls.instance import load_instance
from tests.e2e.conftest import free_port
from tests.faults.conftest import daemon_on, import_pool, require_root
from tests.faults.ledger import PRODUCT
from tests.faults.tmpfs import run
from tests.pools import VendorKeys, grant

LICENSES = [grant("NS-1", seats=2)]


def _in_ns(name: str) -> tuple[str, ...]:
    return ("ip", "netns", "exec", name)


def _init_in(ns: str, data: Path, vendor_keys: Path) -> None:
    subprocess.run(
        [
            *_in_ns(ns),
            sys.executable,
            "-m",
            "lls",
            "init",
            "--data-dir",
            str(data),
            "--vendor-keys",
            str(vendor_keys),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_veth_pair_added_between_two_starts_still_serves(
    tmp_path: Path, vendor: VendorKeys, netns: Any
) -> None:
    ns = netns()
    data = tmp_path / "data"
    _init_in(ns, data, vendor.write_jwks(tmp_path / "vendor.jwks"))
    import_pool(load_instance(data), vendor, LICENSES, tmp_path)
    daemon = daemon_on(data, wrap=_in_ns(ns), netns=ns)
    daemon.start()
    first = daemon.post(
        "/licensing/activate",
        {"licenseToken": "NS-1", "productCodes": [PRODUCT], "authContext": "pc-1"},
    )[1]["authStatus"]
    assert daemon.stop() == 0
    run("ip", "-n", ns, "link", "add", "lls-va", "type", "veth", "peer", "name", "lls-vb")
    run("ip", "-n", ns, "link", "set", "lls-va", "up")
    try:
        daemon.start()
        _, body = daemon.post(
            "/licensing/extend",
            {"licenseToken": "NS-1", "productCodes": [PRODUCT], "authContext": "pc-1"},
        )
    finally:
        daemon.stop()
    assert (first, body["authStatus"]) == ("Success", "Success")


def test_data_dir_copied_under_another_machine_id_in_a_fresh_namespace_is_refused(
    tmp_path: Path, vendor: VendorKeys
) -> None:
    require_root("unshare mount and network namespaces")
    data = tmp_path / "data"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lls",
            "init",
            "--data-dir",
            str(data),
            "--vendor-keys",
            str(vendor.write_jwks(tmp_path / "vendor.jwks")),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    copy = tmp_path / "copied"
    shutil.copytree(data, copy)
    other_id = tmp_path / "machine-id"
    other_id.write_text("0123456789abcdef0123456789abcdef\n")
    # A fresh network namespace (only lo: none of this machine's NICs), its own /sys, and
    # another /etc/machine-id, bind-mounted in a private mount namespace.
    script = (
        'mount -t sysfs sysfs /sys && mount --bind "$1" /etc/machine-id && shift'
        ' && ip link set lo up && exec "$@"'
    )
    result = subprocess.run(
        [
            "unshare",
            "-m",
            "-n",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(other_id),
            sys.executable,
            "-m",
            "lls",
            "serve",
            "--data-dir",
            str(copy),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "belongs to another machine" in result.stderr
    assert "lls registration --rebind" in result.stderr
