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
        "machine.id",
        "LLS_MACHINE_ID",
        "machine_id",
        "",
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
    Setting(
        "log.format",
        "LLS_LOG_FORMAT",
        "log_format",
        "text",
        "text (for people), logfmt or json (one object per line, for log shippers)",
    ),
    Setting(
        "backup.dir",
        "LLS_BACKUP_DIR",
        "backup_dir",
        "",
        "folder for scheduled online backups of the database; empty: no scheduled backups",
    ),
    Setting(
        "backup.interval_s",
        "LLS_BACKUP_INTERVAL_S",
        "backup_interval_s",
        86400.0,
        "seconds between scheduled backups",
    ),
    Setting("backup.keep", "LLS_BACKUP_KEEP", "backup_keep", 7, "how many backups are kept"),
    Setting(
        "tls.cert",
        "LLS_TLS_CERT",
        "tls_cert",
        "",
        "PEM certificate (chain) file: serve HTTPS instead of HTTP when set with tls.key",
    ),
    Setting("tls.key", "LLS_TLS_KEY", "tls_key", "", "PEM private key file of tls.cert"),
    Setting(
        "admin.host",
        "LLS_ADMIN_HOST",
        "admin_host",
        "127.0.0.1",
        "address of the separate admin listener (used when admin.port is set)",
    ),
    Setting(
        "admin.port",
        "LLS_ADMIN_PORT",
        "admin_port",
        0,
        "port of a separate listener for /admin/*; 0: the admin API is on the client listener",
    ),
    Setting(
        "sync.inbox",
        "LLS_SYNC_INBOX",
        "sync_inbox",
        "",
        "drop folder for pool files (USB stick, data diode); empty: off",
    ),
    Setting(
        "sync.outbox",
        "LLS_SYNC_OUTBOX",
        "sync_outbox",
        "",
        "folder where fresh usage files are written for the vendor; empty: off",
    ),
    Setting(
        "sync.interval_s",
        "LLS_SYNC_INTERVAL_S",
        "sync_interval_s",
        30.0,
        "how often the inbox is scanned",
    ),
    Setting(
        "sync.usage_interval_s",
        "LLS_SYNC_USAGE_INTERVAL_S",
        "sync_usage_interval_s",
        86400.0,
        "how often a usage file is written to the outbox",
    ),
    Setting(
        "sync.settle_s",
        "LLS_SYNC_SETTLE_S",
        "sync_settle_s",
        10.0,
        "a dropped file is read only once unchanged this long (it may still be copying)",
    ),
    # --- i12b settings ---
    Setting(
        "metrics.per_license",
        "LLS_METRICS_PER_LICENSE",
        "metrics_per_license",
        True,
        "per-license series in /metrics (seats, used, features, denials by license);"
        " false keeps only the aggregates, for sites where that many series cost too much",
    ),
)

LOG_FORMATS = ("text", "logfmt", "json")


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
    log_format: str = "text"
    backup_dir: str = ""
    backup_interval_s: float = 86400.0
    backup_keep: int = 7
    tls_cert: str = ""
    tls_key: str = ""
    admin_host: str = "127.0.0.1"
    admin_port: int = 0
    sync_inbox: str = ""
    sync_outbox: str = ""
    sync_interval_s: float = 30.0
    sync_usage_interval_s: float = 86400.0
    sync_settle_s: float = 10.0
    # --- i12b settings ---
    metrics_per_license: bool = True

    @property
    def db_path(self) -> Path:
        return self.data_dir / "lls.db"

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @property
    def separate_admin(self) -> bool:
        return self.admin_port != 0

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
    return check_config(Config(**values))


def check_config(config: Config) -> Config:
    """Refuse combinations no single setting can catch; returns `config` unchanged."""
    if config.log_format not in LOG_FORMATS:
        raise BadRequest(
            f"setting log.format must be one of {', '.join(LOG_FORMATS)},"
            f" not {config.log_format!r}",
            field="log.format",
        )
    if bool(config.tls_cert) != bool(config.tls_key):
        raise BadRequest("settings tls.cert and tls.key go together: set both or neither")
    if config.backup_keep < 1:
        raise BadRequest("setting backup.keep must be at least 1", field="backup.keep")
    if config.backup_interval_s <= 0:
        raise BadRequest("setting backup.interval_s must be positive", field="backup.interval_s")
    if config.separate_admin and config.admin_port == config.port:
        raise BadRequest("setting admin.port must differ from listen.port", field="admin.port")
    return config
