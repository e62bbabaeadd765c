"""Settings: declared once as data with their help, read from YAML, then `LLS_*`, then flags.

This is the only module that reads configuration files or the environment.
`config/lls.yaml` documents every setting; a test keeps the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from lls.errors import BadRequest


@dataclass(frozen=True, slots=True)
class Setting:
    key: str  # dotted YAML path
    env: str
    attr: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("listen.host", "LLS_HOST", "host", "127.0.0.1", "address the client API listens on"),
    Setting("listen.port", "LLS_PORT", "port", 8080, "port of the client API"),
    Setting("data_dir", "LLS_DATA_DIR", "data_dir", "./lls-data", "the data directory"),
    Setting(
        "sessions.sweep_interval_s",
        "LLS_SWEEP_INTERVAL_S",
        "sweep_interval_s",
        5.0,
        "how often expired sessions are ended and their seats freed",
    ),
    Setting(
        "limits.unknown_token_failures",
        "LLS_UNKNOWN_TOKEN_FAILURES",
        "guess_limit",
        30,
        "unknown-token lookups one address may make per window before it gets 429",
    ),
    Setting(
        "limits.window_s",
        "LLS_LIMITS_WINDOW_S",
        "guess_window_s",
        60.0,
        "the window of the unknown-token limit, in seconds",
    ),
    Setting(
        "clock.persist_interval_s",
        "LLS_CLOCK_PERSIST_INTERVAL_S",
        "floor_persist_s",
        60.0,
        "how often the trusted-time floor is written to the database",
    ),
    Setting(
        "misuse.check_interval_s",
        "LLS_MISUSE_INTERVAL_S",
        "misuse_interval_s",
        60.0,
        "how often licenses are checked for use from too many machines (also checked at activate)",
    ),
    Setting(
        "machine.id", "LLS_MACHINE_ID", "machine_id", "",
        "a stable machine identity where /etc/machine-id and MACs are not (containers);"
        " empty: fingerprint the machine",
    ),
    Setting("log.level", "LLS_LOG_LEVEL", "log_level", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    Setting(
        "log.access_log",
        "LLS_ACCESS_LOG",
        "access_log",
        False,
        "one log line per HTTP request; off by default: the audit log is the record,"
        " and access logging costs about half the request rate",
    ),
)


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./lls-data")
    sweep_interval_s: float = 5.0
    guess_limit: int = 30
    guess_window_s: float = 60.0
    floor_persist_s: float = 60.0
    misuse_interval_s: float = 60.0
    machine_id: str = ""
    log_level: str = "INFO"
    access_log: bool = False

    @property
    def db_path(self) -> Path:
        return self.data_dir / "lls.db"

    def with_overrides(self, **values: Any) -> Config:
        """A copy with the given (non-None) values, e.g. from command-line flags."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def _coerce(setting: Setting, value: Any) -> Any:
    kind = type(setting.default)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if setting.attr == "data_dir":
            return Path(str(value))
        return kind(value)
    except (TypeError, ValueError):
        raise BadRequest(
            f"setting {setting.key} ({setting.env}) must be a {kind.__name__}, not {value!r}",
            field=setting.key,
        ) from None


def _lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the YAML file, then `LLS_*` variables (flags are applied by the caller)."""
    env = os.environ if env is None else env
    doc: Mapping[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise BadRequest(f"cannot read config file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise BadRequest(f"config file {path} is not valid YAML: {exc}") from None
        doc = loaded or {}
        if not isinstance(doc, Mapping):
            raise BadRequest(f"config file {path} must hold a mapping of settings")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = _lookup(doc, setting.key)
        if setting.env in env:
            raw = env[setting.env]
        if raw is not None:
            values[setting.attr] = _coerce(setting, raw)
    known = {f.name for f in fields(Config)}
    assert set(values) <= known
    return Config(**values)
