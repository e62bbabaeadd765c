"""`lls policy check | reload | show`, in-process, against a real server for the last two."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, at, run_sync
from tests.conftest import ServerFactory
from tests.pools import grant

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "policy.example.yaml"
POLICY = (
    "groups:\n  lab: {authContexts: ['lab-*']}\nrules:\n  - {licenses: [LIC], reserve: {lab: 1}}\n"
)


def test_check_valid_file_exits_0_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run_sync(capsys, "policy", "check", str(EXAMPLE))
    assert (ran.code, ran.out) == (0, f"{EXAMPLE}: valid, 4 groups, 2 rules\n")


def test_check_bad_file_exits_1_naming_the_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.replace("reserve: {lab: 1}", "reserve: {lab: 1.5}"))
    ran = run_sync(capsys, "policy", "check", str(path))
    assert (ran.code, ran.out) == (1, "")
    assert ran.err == f"lls: {path} line 4: reserve lab of rule 1 must be a whole number, not 1.5\n"


def test_check_prints_warnings_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY + "  - {licenses: [OTHER]}\n")
    ran = run_sync(capsys, "policy", "check", "--json", str(path))
    doc = json.loads(ran.out)
    assert (ran.code, doc["valid"], doc["rules"]) == (0, True, 2)
    assert doc["warnings"] == ["rule 2 (line 5): reserves, limits, excludes and includes nothing"]


def test_check_missing_file_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ran = run_sync(capsys, "policy", "check", str(tmp_path / "none.yaml"))
    assert ran.code == 1 and "cannot read policy file" in ran.err


async def test_reload_and_show_through_the_running_server(
    cli: Cli, make_server: ServerFactory, tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY)
    server = await make_server([grant("LIC", seats=2)], policy_file=str(path))
    await server.activate("LIC", "lab-1")
    path.write_text(POLICY.replace("reserve: {lab: 1}", "reserve: {lab: 2}"))
    reloaded = await cli("policy", "reload", *at(server))
    shown = await cli("policy", "show", *at(server))
    assert reloaded.code == 0 and reloaded.out.startswith(f"reloaded: seat policy {path}: 1 groups")
    lines = shown.out.splitlines()
    assert lines[2].split() == [
        "TOKEN",
        "NAME",
        "SEATS",
        "HELD",
        "RESERVED",
        "RULES",
        "HELD",
        "BY",
        "GROUP",
    ]
    assert lines[3].split() == ["LIC", "this", "license", "2", "1", "1", "rule", "1", "lab=1"]


async def test_reload_of_bad_file_exits_1_and_names_the_line(
    cli: Cli, make_server: ServerFactory, tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY)
    server = await make_server([grant("LIC", seats=2)], policy_file=str(path))
    path.write_text(POLICY.replace("lab: 1", "labz: 1"))
    ran = await cli("policy", "reload", *at(server))
    assert ran.code == 1 and f"{path} line 4: unknown group 'labz'" in ran.err


async def test_show_without_policy_says_there_is_none(cli: Cli, make_server: ServerFactory) -> None:
    server = await make_server([grant("LIC")])
    ran = await cli("policy", "show", *at(server))
    assert (ran.code, ran.out) == (0, "no seat policy is in force (policy.file is not set)\n")
