"""Configuration: YAML, then LLS_* variables, then flags; bad values are clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lls.config.load import load_config, unknown_variables
from lls.config.settings import SETTINGS, Config
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


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lls.yaml"
    path.write_text(text)
    return path


def test_load_unknown_yaml_key_is_refused_naming_key_file_and_line(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "listen:\n  host: 0.0.0.0\n  prot: 9000\n")
    with pytest.raises(BadRequest) as refused:
        load_config(path, env={})
    assert "listen.prot" in refused.value.message
    assert f"{path} line 3" in refused.value.message
    assert "listen.port" in refused.value.message  # the likely intended key


def test_load_port_zero_from_env_is_refused_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(BadRequest) as refused:
        load_config(None, env={"LLS_PORT": "0"})
    assert "listen.port" in refused.value.message
    assert "LLS_PORT" in refused.value.message


def test_load_negative_interval_in_yaml_is_refused(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "sync:\n  interval_s: -5\n")
    with pytest.raises(BadRequest, match=r"sync\.interval_s.*line 2"):
        load_config(path, env={})


def test_load_non_integer_yaml_value_names_the_yaml_key_not_the_variable(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "listen:\n  port: many\n")
    with pytest.raises(BadRequest) as refused:
        load_config(path, env={})
    assert "listen.port" in refused.value.message
    assert f"{path} line 2" in refused.value.message
    assert "LLS_PORT" not in refused.value.message


def test_load_fractional_port_from_env_is_refused() -> None:
    with pytest.raises(BadRequest, match="LLS_PORT"):
        load_config(None, env={"LLS_PORT": "80.5"})


def test_load_bad_flag_value_names_the_flag() -> None:
    with pytest.raises(BadRequest, match="flag --port"):
        load_config(None, env={}, flags={"port": 70000})


def test_example_config_holds_exactly_the_declared_defaults() -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "lls.yaml"
    assert load_config(example, env={}) == Config()


def test_every_setting_has_help_and_a_distinct_variable() -> None:
    assert all(s.help and s.env.startswith("LLS_") for s in SETTINGS)
    assert len({s.env for s in SETTINGS}) == len({s.key for s in SETTINGS}) == len(SETTINGS)


def test_unknown_lls_variable_is_reported_with_a_hint() -> None:
    found = unknown_variables({"LLS_PROT": "1", "LLS_PORT": "1", "LLS_AUTH_CONTEXT": "x"})
    assert found == ["LLS_PROT (did you mean LLS_PORT?)"]


def test_example_config_marks_exactly_the_settings_a_reload_applies() -> None:
    text = (Path(__file__).resolve().parents[1] / "config" / "lls.yaml").read_text()
    for item in SETTINGS:
        leaf = item.key.split(".")[-1]
        line = re.search(rf"^\s*{leaf}:.*\b{item.env}\b.*$", text, re.M)
        assert line is not None, item.key
        assert ("(live)" in line.group(0)) == item.live, item.key
