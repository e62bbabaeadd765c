"""`lls vendor …` through argparse: exit 0 done, 1 refused (one line on stderr), 2 bad usage."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import msgspec
import pytest

from lls.cli.vendor import add_vendor_parser
from lls.sealed import KeyPair, PublicKeys, open_sealed, read_sealed_file, seal, write_sealed_file
from lls.sealed.payloads import (
    TYP_POOL,
    TYP_REGISTRATION,
    TYP_USAGE,
    ClockReport,
    EventRange,
    UsagePayload,
)
from tests.central.kit import EXAMPLE_GRANTS, registration


def run(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="lls")
    add_vendor_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    status: int = args.func(args)
    return status


def _issue(
    vdir: Path, out: Path, *, instance: str = "inst-1", grants: Path = EXAMPLE_GRANTS
) -> int:
    """`lls vendor issue` of `grants` to `instance`, the pool file written to `out`."""
    return run(
        "vendor", "issue", "--dir", vdir, "--instance", instance, "--grants", grants, "--out", out
    )


def _vendor_keys(vdir: Path) -> PublicKeys:
    """The public keys of the workspace's vendor, as instances trust them."""
    return PublicKeys.from_jwks(json.loads((vdir / "vendor.jwks").read_text()))


@pytest.fixture(scope="module")
def inst() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def vdir(tmp_path: Path, inst: KeyPair) -> Path:
    """An initialised workspace with instance `inst-1` registered through the CLI."""
    vdir = tmp_path / "V"
    assert run("vendor", "init", "--dir", vdir, "--vendor-id", "vendor:acme") == 0
    token = registration(inst, _vendor_keys(vdir), aud="vendor:acme")
    write_sealed_file(tmp_path / "reg.lls", token, {"kind": TYP_REGISTRATION})
    assert run("vendor", "register", "--dir", vdir, tmp_path / "reg.lls") == 0
    return vdir


def test_issue_writes_pool_the_instance_opens(vdir: Path, inst: KeyPair, tmp_path: Path) -> None:
    out = tmp_path / "site.pool"

    status = _issue(vdir, out)

    vendor = _vendor_keys(vdir)
    payload = open_sealed(read_sealed_file(out), typ=TYP_POOL, recipient=inst, trusted=[vendor])
    assert status == 0 and json.loads(payload)["seq"] == 1
    assert "# instance: inst-1" in out.read_text() and "# seq: 1" in out.read_text()


def test_read_usage_json_prints_summary(
    vdir: Path, inst: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor = _vendor_keys(vdir)
    doc = UsagePayload(
        iss="inst-1",
        aud="vendor:acme",
        iat=1,
        seq=2,
        poolSeq=0,
        events=[],
        eventRange=EventRange(first=None, last=None),
        licenses=[],
        clock=ClockReport(tamperDetected=False, floor="2026-01-01T00:00:00Z"),
    )
    path = tmp_path / "u.lls"
    write_sealed_file(
        path,
        seal(msgspec.json.encode(doc), typ=TYP_USAGE, signer=inst, recipient=vendor),
        {"kind": TYP_USAGE},
    )
    capsys.readouterr()

    status = run("vendor", "read-usage", "--dir", vdir, path, "--json")

    assert status == 0 and json.loads(capsys.readouterr().out)["seq"] == 2


def test_issue_unknown_instance_exits_1_with_one_line(
    vdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _issue(vdir, tmp_path / "x.pool", instance="nobody")

    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and "nobody" in err
    assert not (tmp_path / "x.pool").exists()


def test_register_missing_file_exits_2(vdir: Path, tmp_path: Path) -> None:
    assert run("vendor", "register", "--dir", vdir, tmp_path / "absent.lls") == 2


def test_init_twice_exits_1(vdir: Path) -> None:
    assert run("vendor", "init", "--dir", vdir) == 1


def test_vendor_without_subcommand_exits_2() -> None:
    with pytest.raises(SystemExit) as caught:
        run("vendor")

    assert caught.value.code == 2


def test_bad_grants_exit_1_naming_field(
    vdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grants = tmp_path / "g.yaml"
    shutil.copy(EXAMPLE_GRANTS, grants)
    grants.write_text(grants.read_text().replace("seats: 5", "seats: -5"))

    status = _issue(vdir, tmp_path / "x.pool", grants=grants)

    assert status == 1 and "licenses[0].seats" in capsys.readouterr().err
