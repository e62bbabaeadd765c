"""Reloading settings: live ones applied, the others reported, a bad reload changes nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lls.app.wiring import build_app
from lls.config.load import load_config
from lls.config.settings import Config
from lls.errors import BadRequest, Refused
from lls.instance import Instance
from lls.reload import Reloader


async def test_reload_applies_live_settings_and_reports_the_others() -> None:
    start = Config()
    reloader = Reloader(start, lambda: replace(start, log_level="DEBUG", host="0.0.0.0"))
    report = await reloader.reload()
    assert (report.applied, report.needs_restart) == (("log.level",), ("listen.host",))
    assert (reloader.config.log_level, reloader.config.host) == ("DEBUG", "127.0.0.1")


async def test_reload_that_does_not_validate_keeps_the_settings() -> None:
    def bad() -> Config:
        raise BadRequest("unknown setting listen.prot (lls.yaml line 3)")

    reloader = Reloader(Config(), bad)
    report = await reloader.reload()
    assert report.ok is False and "listen.prot" in (report.error or "")
    assert reloader.config == Config()


async def test_a_hook_that_refuses_stops_every_hook_from_applying() -> None:
    applied: list[str] = []
    reloader = Reloader(Config(), lambda: replace(Config(), guess_limit=5))
    reloader.add_hook("first", lambda old, new: lambda: applied.append("first"))

    def policy(old: Config, new: Config) -> Any:
        raise Refused("seat policy file: group `cad` has no licenses")

    reloader.add_hook("policy", policy)
    report = await reloader.reload()
    assert applied == [] and report.error == "policy: seat policy file: group `cad` has no licenses"
    assert reloader.config.guess_limit == 30


# The test client talks to one port: the admin API shares it (admin.port 0).
ONE_PORT = "admin:\n  port: 0\n"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "lls.yaml"
    path.write_text(ONE_PORT + "limits:\n  unknown_token_failures: 1\n")
    return path


async def test_reload_endpoint_changes_the_unknown_token_limit(
    aiohttp_client: Any, instance: Instance, config_file: Path
) -> None:
    def reread() -> Config:
        return load_config(config_file, env={}, flags={"data_dir": instance.data_dir})

    app = build_app(reread(), instance=instance, run_jobs=False, reread=reread)
    client = await aiohttp_client(app)
    statuses = [(await client.post("/licensing/validate", json={"licenseToken": "X"})).status]
    statuses.append((await client.post("/licensing/validate", json={"licenseToken": "Y"})).status)
    config_file.write_text(ONE_PORT + "limits:\n  unknown_token_failures: 50\n")
    headers = {"Authorization": f"Bearer {instance.admin_token}"}
    answer = await client.post("/admin/v1/reload", headers=headers)
    doc = await answer.json()
    statuses.append((await client.post("/licensing/validate", json={"licenseToken": "Z"})).status)
    assert statuses == [200, 429, 200]
    assert doc == {
        "reloaded": True,
        "applied": ["limits.unknown_token_failures"],
        "needsRestart": [],
        "error": None,
    }


async def test_reload_endpoint_refuses_a_bad_file_with_its_line(
    aiohttp_client: Any, instance: Instance, config_file: Path
) -> None:
    def reread() -> Config:
        return load_config(config_file, env={}, flags={"data_dir": instance.data_dir})

    client = await aiohttp_client(
        build_app(reread(), instance=instance, run_jobs=False, reread=reread)
    )
    config_file.write_text(ONE_PORT + "limits:\n  unknown_token_failures: -1\n")
    answer = await client.post(
        "/admin/v1/reload", headers={"Authorization": f"Bearer {instance.admin_token}"}
    )
    problem = await answer.json()
    assert (answer.status, problem["code"]) == (422, "RELOAD_REFUSED")
    assert "limits.unknown_token_failures" in problem["detail"] and "line 4" in problem["detail"]


async def test_an_apply_that_fails_is_reported_not_raised() -> None:
    reloader = Reloader(Config(), lambda: replace(Config(), guess_limit=5))

    def broken(old: Config, new: Config) -> Any:
        def apply() -> None:
            raise RuntimeError("scheduler gone")

        return apply

    reloader.add_hook("jobs", broken)
    report = await reloader.reload()
    assert (report.ok, report.kept) == (False, False)
    assert report.error == "applying jobs failed; see the server log"
