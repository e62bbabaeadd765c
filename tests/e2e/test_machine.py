"""Machine binding: a data directory copied to another machine refuses to serve.

A second machine cannot exist here, so the machine identity is moved with
LLS_MACHINE_ID (the setting containers use), which changes the fingerprint.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

import msgspec

from lls.sealed import open_sealed, read_sealed_file
from lls.sealed.payloads import TYP_REGISTRATION
from tests.e2e.conftest import Daemon, free_port, lls
from tests.pools import VendorKeys, grant, make_pool


def _instance_on(tmp_path: Path, vendor: VendorKeys, machine: str) -> Path:
    data = tmp_path / "data"
    lls(
        "init",
        "--data-dir",
        str(data),
        "--vendor-keys",
        str(vendor.write_jwks(tmp_path / "v.jwks")),
        env={"LLS_MACHINE_ID": machine},
    )
    return data


def test_data_dir_copied_to_another_machine_refuses_to_serve(
    tmp_path: Path, vendor: VendorKeys
) -> None:
    data = _instance_on(tmp_path, vendor, "machine-a")
    copy = tmp_path / "copied"
    shutil.copytree(data, copy)
    result = lls(
        "serve",
        "--data-dir",
        str(copy),
        "--port",
        str(free_port()),
        env={"LLS_MACHINE_ID": "machine-b"},
        check=False,
    )
    assert result.returncode == 1
    assert "belongs to another machine" in result.stderr
    assert "lls registration --rebind" in result.stderr


def test_registration_carries_the_fingerprint(tmp_path: Path, vendor: VendorKeys) -> None:
    data = _instance_on(tmp_path, vendor, "machine-a")
    lls(
        "registration",
        "--data-dir",
        str(data),
        "--out",
        str(tmp_path / "reg.lls"),
        env={"LLS_MACHINE_ID": "machine-a"},
    )
    token = read_sealed_file(tmp_path / "reg.lls")
    from lls.instance import load_instance

    inst = load_instance(data)
    payload = msgspec.json.decode(
        open_sealed(
            token, typ=TYP_REGISTRATION, recipient=vendor.keys, trusted=[inst.keys.public()]
        )
    )
    assert payload["fingerprint"] == hashlib.sha256(b"stable:machine-a").hexdigest()


def test_rebind_serves_only_pools_issued_after_it(tmp_path: Path, vendor: VendorKeys) -> None:
    data = _instance_on(tmp_path, vendor, "machine-a")
    from lls.instance import load_instance

    inst = load_instance(data)
    old = tmp_path / "old.lls"
    old.write_text(make_pool(vendor, inst, [grant("A")], seq=1, iat=time.time() - 60))
    lls("pool", "import", str(old), "--data-dir", str(data))
    env = {"LLS_MACHINE_ID": "machine-b"}
    lls(
        "registration",
        "--rebind",
        "--data-dir",
        str(data),
        "--out",
        str(tmp_path / "r.lls"),
        env=env,
    )
    daemon = Daemon(data_dir=data, port=free_port(), env=env)
    daemon.start()
    try:
        assert daemon.post("/licensing/validate", {"licenseToken": "A"})[1]["reason"] == (
            "LICENSE_NOT_FOUND"
        )
        assert daemon.get("/readyz")[0] == 503
        time.sleep(1.1)
        fresh = tmp_path / "fresh.lls"
        fresh.write_text(make_pool(vendor, inst, [grant("A")], seq=2))
        out = lls("pool", "import", str(fresh), "--data-dir", str(data), env=env)
        assert "running server" in out.stdout
        body: Any = daemon.post("/licensing/validate", {"licenseToken": "A"})[1]
        assert body["authStatus"] == "Success"
    finally:
        assert daemon.stop() == 0
