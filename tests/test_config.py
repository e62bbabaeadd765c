"""Configuration: YAML, then LLS_* variables, then flags; bad values are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lls.config import load_config
from lls.errors import BadRequest


def test_defaults_without_file_or_env() -> None:
    config = load_config(None, env={})
    assert (config.host, config.port, config.data_dir) == ("127.0.0.1", 8080, Path("./lls-data"))
    assert config.access_log is False


def test_env_overrides_file_and_flags_override_env(tmp_path: Path) -> None:
    path = tmp_path / "lls.yaml"
    path.write_text("listen:\n  port: 9000\n  host: 0.0.0.0\nlog:\n  access_log: true\n")
    config = load_config(path, env={"LLS_PORT": "9100"})
    assert (config.host, config.port, config.access_log) == ("0.0.0.0", 9100, True)
    assert config.with_overrides(port=9200, host=None).port == 9200


def test_repo_example_config_loads() -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "lls.yaml"
    assert load_config(example, env={}).port == 8080


@pytest.mark.parametrize(
    ("text", "env"),
    [("listen: {port: many}\n", {}), ("", {"LLS_ACCESS_LOG": "perhaps"}), ("- a list\n", {})],
)
def test_bad_setting_is_a_clear_error(tmp_path: Path, text: str, env: dict[str, str]) -> None:
    path = tmp_path / "lls.yaml"
    path.write_text(text)
    with pytest.raises(BadRequest):
        load_config(path, env=env)


def test_vendor_fields_only_is_off_by_default_and_set_by_file_or_env(tmp_path: Path) -> None:
    path = tmp_path / "lls.yaml"
    path.write_text("compat:\n  vendor_fields_only: true\n")
    assert load_config(None, env={}).vendor_fields_only is False
    assert load_config(path, env={}).vendor_fields_only is True
    assert load_config(None, env={"LLS_COMPAT_VENDOR_FIELDS_ONLY": "1"}).vendor_fields_only is True
