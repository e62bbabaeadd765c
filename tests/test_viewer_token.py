"""The dashboard's read-only token in the data directory: made once, 0600, never followed."""

from __future__ import annotations

import stat
from pathlib import Path

from lls.app.wiring import build_app
from lls.config.settings import Config
from lls.http.ui.auth import Tokens
from lls.http.ui.keys import TOKENS, UI_APP
from lls.instance import VIEWER_TOKEN_FILE, Instance, viewer_token


def _ui_tokens(instance: Instance) -> Tokens:
    app = build_app(Config(data_dir=instance.data_dir), instance=instance, run_jobs=False)
    return app[UI_APP][TOKENS]


def test_init_creates_a_viewer_token_only_its_owner_can_read(instance: Instance) -> None:
    path = instance.data_dir / VIEWER_TOKEN_FILE

    mode = stat.S_IMODE(path.stat().st_mode)

    assert mode == 0o600 and len(path.read_text().strip()) >= 32
    assert path.read_text().strip() != instance.admin_token


def test_first_start_of_an_older_instance_creates_the_viewer_token(instance: Instance) -> None:
    path = instance.data_dir / VIEWER_TOKEN_FILE
    path.unlink()  # an instance made before the dashboard existed

    build_app(Config(data_dir=instance.data_dir), instance=instance, run_jobs=False)
    made = path.read_text()
    build_app(Config(data_dir=instance.data_dir), instance=instance, run_jobs=False)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == made


def test_a_viewer_token_behind_a_symlink_is_not_followed(
    instance: Instance, tmp_path: Path
) -> None:
    path = instance.data_dir / VIEWER_TOKEN_FILE
    elsewhere = tmp_path / "planted"
    elsewhere.write_text("x" * 40)
    path.unlink()
    path.symlink_to(elsewhere)

    token = viewer_token(instance.data_dir)

    assert token is None and elsewhere.read_text() == "x" * 40


def test_a_too_short_viewer_token_turns_viewer_sign_in_off(instance: Instance) -> None:
    (instance.data_dir / VIEWER_TOKEN_FILE).write_text("\n")

    tokens = _ui_tokens(instance)

    assert not tokens.has_viewer
