"""`--json` on every command that prints a result: one JSON document on stdout, nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lls.client import OfflineDevice
from lls.instance import Instance
from lls.sealed import write_sealed_file
from tests.cli.conftest import Cli, at, run_sync
from tests.conftest import Server
from tests.pools import PRODUCT, VendorKeys, grant, make_pool

Capsys = pytest.CaptureFixture[str]


def as_json(capsys: Capsys, *argv: str) -> Any:
    ran = run_sync(capsys, *argv, "--json")
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


@pytest.fixture
def pooled(instance: Instance, vendor: VendorKeys, tmp_path: Path) -> Path:
    path = tmp_path / "pool.lls"
    write_sealed_file(path, make_pool(vendor, instance, [grant("OFF", seats=2)]), {"k": "v"})
    return path


def test_init_json_names_the_instance(capsys: Capsys, vendor: VendorKeys, tmp_path: Path) -> None:
    keys = vendor.write_jwks(tmp_path / "vendor.jwks")
    doc = as_json(capsys, "init", "--data-dir", str(tmp_path / "d"), "--vendor-keys", str(keys))
    assert doc["instanceId"].startswith("lls-") and doc["dataDir"] == str(tmp_path / "d")


def test_registration_json(capsys: Capsys, instance: Instance, tmp_path: Path) -> None:
    out = str(tmp_path / "reg.lls")
    doc = as_json(capsys, "registration", "--data-dir", str(instance.data_dir), "--out", out)
    assert (doc["instanceId"], doc["out"]) == (instance.instance_id, out)


def test_pool_import_json_is_the_summary(capsys: Capsys, instance: Instance, pooled: Path) -> None:
    doc = as_json(capsys, "pool", "import", str(pooled), "--data-dir", str(instance.data_dir))
    assert (doc["seq"], doc["licenses"], doc["added"]) == (1, 1, 1)


def test_usage_export_json(
    capsys: Capsys, instance: Instance, pooled: Path, tmp_path: Path
) -> None:
    data = str(instance.data_dir)
    as_json(capsys, "pool", "import", str(pooled), "--data-dir", data)
    out = str(tmp_path / "usage.lls")
    assert as_json(capsys, "usage", "export", "--data-dir", data, "--out", out) == {
        "seq": 1,
        "out": out,
    }


def test_offline_activate_refresh_deactivate_json(
    capsys: Capsys, instance: Instance, pooled: Path, tmp_path: Path
) -> None:
    data = str(instance.data_dir)
    as_json(capsys, "pool", "import", str(pooled), "--data-dir", data)
    device = OfflineDevice(tmp_path / "device.jwks")
    device.pin_server(
        {"instanceId": instance.instance_id, "keys": instance.keys.public().to_jwks()}
    )
    request = tmp_path / "req.lls"
    request.write_text(device.offline_request("OFF", [PRODUCT], "unit-1"))
    resp = str(tmp_path / "resp.lls")
    granted = as_json(
        capsys, "offline", "activate", str(request), "--data-dir", data, "--out", resp
    )
    assert "token" not in granted and granted["out"] == resp
    device.apply_response(Path(resp).read_text())
    refresh = str(tmp_path / "refresh.lls")
    again = as_json(
        capsys, "offline", "refresh", granted["activationId"], "--data-dir", data, "--out", refresh
    )
    assert again["activationId"] == granted["activationId"]
    bye = tmp_path / "bye.lls"
    bye.write_text(device.deactivation_token())
    assert as_json(capsys, "offline", "deactivate", str(bye), "--data-dir", data) == {
        "deactivated": True
    }


def test_backup_and_restore_json(
    capsys: Capsys, instance: Instance, pooled: Path, tmp_path: Path
) -> None:
    data = str(instance.data_dir)
    as_json(capsys, "pool", "import", str(pooled), "--data-dir", data)
    out = str(tmp_path / "b.db")
    backup = as_json(capsys, "backup", "--out", out, "--data-dir", data)
    assert (backup["integrity"], backup["poolSeq"]) == ("ok", 1)
    restored = as_json(capsys, "restore", out, "--data-dir", data)
    assert (restored["poolSeq"], restored["liveSessions"]) == (1, 0)
    assert restored["kept"].endswith(".bak")


GRANTS = "org: {id: o, name: O}\nvalidDays: 9\nlicenses:\n  - {token: T, productCodes: [P]}\n"


def test_vendor_init_register_issue_json(capsys: Capsys, tmp_path: Path) -> None:
    v, data = str(tmp_path / "V"), str(tmp_path / "d")
    assert as_json(capsys, "vendor", "init", "--dir", v)["vendorId"]
    keys = str(tmp_path / "V" / "vendor.jwks")
    instance_id = as_json(capsys, "init", "--data-dir", data, "--vendor-keys", keys)["instanceId"]
    reg = str(tmp_path / "reg.lls")
    run_sync(capsys, "registration", "--data-dir", data, "--out", reg)
    assert as_json(capsys, "vendor", "register", "--dir", v, reg)["instanceId"] == instance_id
    grants = tmp_path / "g.yaml"
    grants.write_text(GRANTS)
    doc = as_json(
        capsys, "vendor", "issue", "--dir", v, "--instance", instance_id,
        "--grants", str(grants), "--out", str(tmp_path / "p.lls"),
    )  # fmt: skip
    assert (doc["seq"], doc["licenses"]) == (1, 1)


async def test_sessions_end_and_unlock_json(server: Server, cli: Cli) -> None:
    await server.activate("LIC-THREE", "pc-1")
    sid = server.licensing.reads.live_sessions()[0].id
    ran = await cli("sessions", "end", sid, "--json", *at(server))
    assert json.loads(ran.out) == {"ended": sid}


async def test_reload_of_a_server_without_a_config_to_reread_is_refused(
    server: Server, cli: Cli
) -> None:
    ran = await cli("reload", *at(server))
    assert ran.code == 1 and "reload refused" in ran.err
