"""The policy file at start and on reload: a bad file refuses, the policy in force stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from lls.app.wiring import build_app
from lls.clock import FakeClock
from lls.config.load import load_config
from lls.config.settings import Config
from lls.domain.policy_file import PolicyFileError
from lls.instance import Instance
from lls.policy_reload import install_policy, load_policy
from lls.reload import Reloader

GROUPS = "groups:\n  lab: {authContexts: ['lab-*']}\nrules:\n"
GOOD = GROUPS + "  - {licenses: [LIC-ONE], reserve: {lab: 1}}\n"
BAD = GROUPS + "  - {licenses: [LIC-ONE], reserve: {labs: 1}}\n"


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    return path


def reloader_for(config_file: Path, policy_file: Path) -> tuple[Reloader, Config]:
    config_file.write_text(f"policy:\n  file: {policy_file}\n")
    config = load_config(config_file, env={})
    return Reloader(config, lambda: load_config(config_file, env={})), config


def test_start_with_bad_policy_file_stops_with_its_line(
    instance: Instance, policy_file: Path
) -> None:
    policy_file.write_text(BAD)
    config = Config(data_dir=instance.data_dir, policy_file=str(policy_file))
    with pytest.raises(PolicyFileError, match=r"policy.yaml line 4: unknown group 'labs'"):
        build_app(config, instance=instance, run_jobs=False)


def test_start_with_missing_policy_file_says_so(instance: Instance, tmp_path: Path) -> None:
    config = Config(data_dir=instance.data_dir, policy_file=str(tmp_path / "nope.yaml"))
    with pytest.raises(PolicyFileError, match=r"cannot read policy file .*nope\.yaml"):
        build_app(config, instance=instance, run_jobs=False)


def test_load_policy_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="is not a regular file"):
        load_policy(str(tmp_path))


def test_load_policy_refuses_a_file_larger_than_a_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(PolicyFileError, match="at most 1,048,576"):
        load_policy(str(path))


def test_load_policy_refuses_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"groups:\n  caf\xe9: {}\n")
    with pytest.raises(PolicyFileError, match="not UTF-8"):
        load_policy(str(path))


async def test_reload_with_bad_policy_keeps_the_policy_in_force(
    tmp_path: Path, policy_file: Path
) -> None:
    reloader, config = reloader_for(tmp_path / "lls.yaml", policy_file)
    control = install_policy(config, reloader, FakeClock(0.0))
    before = control.in_force.policy
    policy_file.write_text(BAD)
    report = await reloader.reload()
    assert report.ok is False and report.kept
    assert report.error is not None and report.error.startswith(f"policy: {policy_file} line 4:")
    assert control.in_force.policy is before


async def test_reload_with_edited_policy_puts_it_in_force(
    tmp_path: Path, policy_file: Path
) -> None:
    reloader, config = reloader_for(tmp_path / "lls.yaml", policy_file)
    control = install_policy(config, reloader, FakeClock(0.0))
    heard: list[object] = []
    control.in_force.subscribe(heard.append)
    policy_file.write_text(GOOD.replace("reserve: {lab: 1}", "reserve: {lab: 2}"))
    report = await reloader.reload()
    assert report.ok and control.in_force.policy is not None
    assert control.in_force.policy.rules[0].seats.reserve == {"lab": 2} and len(heard) == 1


async def test_reload_with_unchanged_policy_changes_nothing(
    tmp_path: Path, policy_file: Path
) -> None:
    reloader, config = reloader_for(tmp_path / "lls.yaml", policy_file)
    control = install_policy(config, reloader, FakeClock(0.0))
    heard: list[object] = []
    control.in_force.subscribe(heard.append)
    report = await reloader.reload()
    assert report.ok and heard == []


async def test_reload_without_policy_file_setting_drops_the_policy(
    tmp_path: Path, policy_file: Path
) -> None:
    config_file = tmp_path / "lls.yaml"
    reloader, config = reloader_for(config_file, policy_file)
    control = install_policy(config, reloader, FakeClock(0.0))
    config_file.write_text("policy:\n  file: ''\n")
    report = await reloader.reload()
    assert report.applied == ("policy.file",) and control.in_force.policy is None


def test_policy_reload_names_a_missing_setting(tmp_path: Path) -> None:
    reloader = Reloader(Config(), None)
    control = install_policy(Config(), reloader, FakeClock(0.0))
    with pytest.raises(Exception, match=r"no policy file is set \(policy.file\)"):
        control.reload()


def test_policy_file_setting_comes_from_its_variable(policy_file: Path) -> None:
    config = load_config(None, env={"LLS_POLICY_FILE": str(policy_file)})
    assert config.policy_file == str(policy_file)
