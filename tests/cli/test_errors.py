"""Errors a person can act on: each names what is wrong and what to do, in one line."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from lls import instance as instance_module
from lls.cli import EXIT_BROKEN_PIPE, main
from lls.instance import Instance, init_instance
from tests.cli.conftest import Cli, at, run_sync
from tests.conftest import Server
from tests.pools import VendorKeys

Capsys = pytest.CaptureFixture[str]


@pytest.fixture
def elsewhere(tmp_path: Path, vendor: VendorKeys, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real instance at ./lls-data (the working directory is tmp_path)."""
    monkeypatch.chdir(tmp_path)
    init_instance(tmp_path / "lls-data", vendor.write_jwks(tmp_path / "vendor.jwks"))
    return tmp_path


@pytest.mark.parametrize("command", [["status"], ["serve"], ["usage", "export", "--out", "u"]])
def test_mistyped_data_dir_suggests_the_instance_that_exists(
    capsys: Capsys, elsewhere: Path, command: list[str]
) -> None:
    ran = run_sync(capsys, *command, "--data-dir", str(elsewhere / "lls-dta"))
    assert ran.code == 1
    assert ran.err.startswith(f"lls: no instance at {elsewhere / 'lls-dta'}")
    assert "did you mean --data-dir lls-data?" in ran.err
    assert ran.err.count("\n") == 1


def test_missing_data_dir_without_a_likely_one_suggests_none(
    capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instance_module, "LIKELY_DATA_DIRS", (tmp_path / "none",))
    ran = run_sync(capsys, "status", "--data-dir", str(tmp_path / "gone"))
    assert ran.code == 1 and "did you mean" not in ran.err
    assert "check --data-dir or LLS_DATA_DIR" in ran.err


def test_data_dir_that_is_the_likely_one_is_not_suggested_to_itself(
    capsys: Capsys, elsewhere: Path
) -> None:
    (elsewhere / "lls-data" / "instance.json").rename(elsewhere / "moved.json")
    ran = run_sync(capsys, "status", "--data-dir", "lls-data")
    assert ran.code == 1 and "did you mean" not in ran.err


class ClosedPipe(io.StringIO):
    """stdout after the reader (`head`) went away: every write fails as the kernel's would."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


async def test_closed_pipe_ends_quietly_with_the_sigpipe_status(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    import asyncio

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    code = await asyncio.to_thread(main, ["audit", *at(server)])
    assert code == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


async def test_refusal_from_the_server_is_one_line(server: Server, cli: Cli) -> None:
    ran = await cli("licenses", "unlock", "LIC-ONE", *at(server))
    assert ran.code == 1 and ran.err == "lls: license LIC-ONE is not locked\n"


def test_bad_config_value_stops_the_command_naming_the_variable(
    capsys: Capsys, instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLS_PORT", "0")
    ran = run_sync(capsys, "serve", "--data-dir", str(instance.data_dir))
    assert ran.code == 1
    assert "listen.port" in ran.err and "LLS_PORT" in ran.err and "Traceback" not in ran.err


@pytest.mark.parametrize("command", [["backup", "--out", "b.db"], ["restore", "b.db"]])
def test_backup_and_restore_refuse_an_instance_on_postgresql_and_name_pg_dump(
    capsys: Capsys, elsewhere: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """With store.url set the SQLite file is not the instance's database: copying or
    replacing it would be a backup of nothing, or a restore nobody reads."""
    monkeypatch.setenv("LLS_STORE_URL", "postgresql://lls@db.invalid/lls")
    ran = run_sync(capsys, *command, "--data-dir", str(elsewhere / "lls-data"))
    assert ran.code == 1
    assert "store.url" in ran.err and "pg_dump" in ran.err, ran.err
    assert not (elsewhere / "b.db").exists()
