"""Settings, declared once: each `Config` field carries its YAML key, variable, bounds and help.

This is the only module that reads configuration files or the environment.
Values come from the defaults, then the YAML file (`--config`), then `LLS_*`
variables, then command-line flags; each source is decoded by the same
declaration, so a bad value or an unknown key stops `lls serve` with a message
that names the key and where it came from (the file and line, the variable, or
the flag). `config/lls.yaml` documents every setting; a test keeps the two in step.

Adding a setting is one entry: a field of `Config` whose default is
`setting("section.key", default, "help", env="LLS_…", low=…, live=…)`.
`live=True` marks what a reload (SIGHUP, `lls reload`) applies without a restart.
"""

from __future__ import annotations

import difflib
import math
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from lls.errors import BadRequest

SECTION = "lls.config"  # the key of a field's metadata
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "logfmt", "json")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as an admin sees it: the YAML key, its variable, its rules and its help."""

    key: str  # dotted YAML path
    env: str
    attr: str  # the Config field
    default: Any
    help: str
    kind: type = str  # str, int, float, bool or Path
    low: float | None = None  # inclusive bounds of a number
    high: float | None = None
    positive: bool = False  # a number that must be > 0 (intervals)
    choices: tuple[str, ...] = ()
    live: bool = False  # applied by a reload; otherwise it needs a restart
    flag: str = ""  # the command-line flag that sets it, if any


def setting(
    key: str,
    default: Any,
    help: str,
    *,
    env: str,
    low: float | None = None,
    high: float | None = None,
    positive: bool = False,
    choices: tuple[str, ...] = (),
    live: bool = False,
    flag: str = "",
) -> Any:
    """Declare a `Config` field as a setting (its default, YAML key, variable and rules)."""
    meta = {
        "key": key,
        "env": env,
        "help": help,
        "low": low,
        "high": high,
        "positive": positive,
        "choices": choices,
        "live": live,
        "flag": flag,
    }
    return field(default=default, metadata={SECTION: meta})


@dataclass(frozen=True, slots=True)
class Config:
    host: str = setting(
        "listen.host",
        "127.0.0.1",
        "address the client API listens on",
        env="LLS_HOST",
        flag="--host",
    )
    port: int = setting(
        "listen.port",
        8080,
        "port of the client API",
        env="LLS_PORT",
        low=1,
        high=65535,
        flag="--port",
    )
    data_dir: Path = setting(
        "data_dir", Path("./lls-data"), "the data directory", env="LLS_DATA_DIR", flag="--data-dir"
    )
    sweep_interval_s: float = setting(
        "sessions.sweep_interval_s",
        5.0,
        "how often expired sessions are ended and their seats freed",
        env="LLS_SWEEP_INTERVAL_S",
        positive=True,
        live=True,
    )
    guess_limit: int = setting(
        "limits.unknown_token_failures",
        30,
        "unknown-token lookups one address may make per window before it gets 429",
        env="LLS_UNKNOWN_TOKEN_FAILURES",
        low=1,
        live=True,
    )
    guess_window_s: float = setting(
        "limits.window_s",
        60.0,
        "the window of the unknown-token limit, in seconds",
        env="LLS_LIMITS_WINDOW_S",
        positive=True,
        live=True,
    )
    floor_persist_s: float = setting(
        "clock.persist_interval_s",
        60.0,
        "how often the trusted-time floor is written to the database",
        env="LLS_CLOCK_PERSIST_INTERVAL_S",
        positive=True,
        live=True,
    )
    misuse_interval_s: float = setting(
        "misuse.check_interval_s",
        60.0,
        "how often licenses are checked for use from too many machines (also checked at activate)",
        env="LLS_MISUSE_INTERVAL_S",
        positive=True,
        live=True,
    )
    machine_id: str = setting(
        "machine.id",
        "",
        "a stable machine identity where /etc/machine-id and MACs are not (containers);"
        " empty: fingerprint the machine",
        env="LLS_MACHINE_ID",
    )
    log_level: str = setting(
        "log.level",
        "INFO",
        "DEBUG, INFO, WARNING or ERROR",
        env="LLS_LOG_LEVEL",
        choices=LOG_LEVELS,
        live=True,
    )
    access_log: bool = setting(
        "log.access_log",
        False,
        "one log line per HTTP request; off by default: the audit log is the record,"
        " and access logging costs about half the request rate",
        env="LLS_ACCESS_LOG",
    )
    log_format: str = setting(
        "log.format",
        "text",
        "text (for people), logfmt or json (one object per line, for log shippers)",
        env="LLS_LOG_FORMAT",
        choices=LOG_FORMATS,
        live=True,
    )
    backup_dir: str = setting(
        "backup.dir",
        "",
        "folder for scheduled online backups of the database; empty: no scheduled backups",
        env="LLS_BACKUP_DIR",
        live=True,
    )
    backup_interval_s: float = setting(
        "backup.interval_s",
        86400.0,
        "seconds between scheduled backups",
        env="LLS_BACKUP_INTERVAL_S",
        positive=True,
        live=True,
    )
    backup_keep: int = setting(
        "backup.keep", 7, "how many backups are kept", env="LLS_BACKUP_KEEP", low=1, live=True
    )
    tls_cert: str = setting(
        "tls.cert",
        "",
        "PEM certificate (chain) file: serve HTTPS instead of HTTP when set with tls.key",
        env="LLS_TLS_CERT",
    )
    tls_key: str = setting("tls.key", "", "PEM private key file of tls.cert", env="LLS_TLS_KEY")
    admin_host: str = setting(
        "admin.host",
        "127.0.0.1",
        "address of the admin listener (loopback: only this machine; a LAN address: use TLS)",
        env="LLS_ADMIN_HOST",
    )
    admin_port: int = setting(
        "admin.port",
        8081,
        "port of the admin listener, the only one serving /admin/*; 0: the admin API shares"
        " the client listener (not recommended)",
        env="LLS_ADMIN_PORT",
        low=0,
        high=65535,
    )
    sync_inbox: str = setting(
        "sync.inbox",
        "",
        "drop folder for pool files (USB stick, data diode); empty: off",
        env="LLS_SYNC_INBOX",
        live=True,
    )
    sync_outbox: str = setting(
        "sync.outbox",
        "",
        "folder where fresh usage files are written for the vendor; empty: off",
        env="LLS_SYNC_OUTBOX",
        live=True,
    )
    sync_interval_s: float = setting(
        "sync.interval_s",
        30.0,
        "how often the inbox is scanned",
        env="LLS_SYNC_INTERVAL_S",
        positive=True,
        live=True,
    )
    sync_usage_interval_s: float = setting(
        "sync.usage_interval_s",
        86400.0,
        "how often a usage file is written to the outbox",
        env="LLS_SYNC_USAGE_INTERVAL_S",
        positive=True,
        live=True,
    )
    sync_settle_s: float = setting(
        "sync.settle_s",
        10.0,
        "a dropped file is read only once unchanged this long (it may still be copying)",
        env="LLS_SYNC_SETTLE_S",
        low=0,
        live=True,
    )
    vendor_fields_only: bool = setting(
        "compat.vendor_fields_only",
        False,
        "validate/activate/extend/deactivate answer exactly the online API's five fields"
        " (for strict generated clients); off: the five, then LLS's additions",
        env="LLS_COMPAT_VENDOR_FIELDS_ONLY",
    )
    ui_enabled: bool = setting(
        "ui.enabled",
        True,
        "serve the web dashboard at /ui/ (on the admin listener when there is one)",
        env="LLS_UI_ENABLED",
    )
    ui_session_idle_s: float = setting(
        "ui.session_idle_s",
        1800.0,
        "a dashboard sign-in ends after this many seconds without a page view",
        env="LLS_UI_SESSION_IDLE_S",
        low=60,
    )
    ui_refresh_s: float = setting(
        "ui.refresh_s",
        5.0,
        "how often the dashboard's overview refreshes its figures, in seconds",
        env="LLS_UI_REFRESH_S",
        low=1,
    )
    ui_sign_in_failures: int = setting(
        "ui.sign_in_failures",
        10,
        "wrong dashboard tokens one address may try per 5 minutes before it must wait",
        env="LLS_UI_SIGN_IN_FAILURES",
        low=1,
    )
    # --- i12b settings ---
    metrics_per_license: bool = setting(
        "metrics.per_license",
        True,
        "per-license series in /metrics (seats, used, features, denials by license);"
        " false keeps only the aggregates, for sites where that many series cost too much",
        env="LLS_METRICS_PER_LICENSE",
    )
    # --- i10 settings ---
    admin_allowed_hosts: str = setting(
        "admin.allowed_hosts",
        "",
        "more names or addresses (comma-separated) the admin API answers to in the Host"
        " header, besides admin.host, localhost, 127.0.0.1 and [::1] (DNS rebinding)",
        env="LLS_ADMIN_ALLOWED_HOSTS",
    )
    admin_failure_limit: int = setting(
        "limits.admin_token_failures",
        20,
        "wrong admin tokens one address may send per window before it gets 429",
        env="LLS_ADMIN_TOKEN_FAILURES",
        low=1,
    )
    admin_failure_window_s: float = setting(
        "limits.admin_window_s",
        60.0,
        "the window of the admin-token limit, in seconds",
        env="LLS_ADMIN_WINDOW_S",
        positive=True,
    )
    header_timeout_s: float = setting(
        "listen.header_timeout_s",
        10.0,
        "a connection whose request headers are not complete this long after it opened"
        " is closed (slow or half-open clients)",
        env="LLS_HEADER_TIMEOUT_S",
        positive=True,
    )
    keepalive_s: float = setting(
        "listen.keepalive_s",
        60.0,
        "an idle keep-alive connection is closed after this many seconds",
        env="LLS_KEEPALIVE_S",
        positive=True,
    )
    max_connections_per_address: int = setting(
        "listen.max_connections_per_address",
        256,
        "open connections one client address may hold; more are answered 503 and closed",
        env="LLS_MAX_CONNECTIONS_PER_ADDRESS",
        low=1,
    )
    history_retention_days: int = setting(
        "history.retention_days",
        400,
        "days the usage history (per license and hour) is kept; independent of the pruning"
        " of audit events after the vendor's acknowledgement",
        env="LLS_HISTORY_RETENTION_DAYS",
        low=1,
        high=3660,
        live=True,
    )
    # --- i16 settings ---
    policy_file: str = setting(
        "policy.file",
        "",
        "seat policy file (groups; reserve, max, exclude, include per license or product);"
        " empty: no policy",
        env="LLS_POLICY_FILE",
        live=True,
    )

    # --- i15b settings ---
    store_url: str = setting(
        "store.url",
        "",
        "PostgreSQL database of the instance (postgresql://user@host/db), shared by the nodes"
        " of a high-availability pair; empty: SQLite in the data directory",
        env="LLS_STORE_URL",
    )
    advertise_url: str = setting(
        "ha.advertise_url",
        "",
        "this node's client URL as the other nodes name it when it leads (standbys answer"
        " /readyz with it); empty: http://<listen.host>:<listen.port>",
        env="LLS_HA_ADVERTISE_URL",
    )

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


_KINDS: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "Path": Path}


def _settings() -> tuple[Setting, ...]:
    out = []
    for f in fields(Config):
        if SECTION not in f.metadata:
            raise TypeError(f"Config.{f.name} is not declared with setting(key, default, help)")
        meta = f.metadata[SECTION]
        kind = f.type if isinstance(f.type, type) else _KINDS[str(f.type)]
        default = f.default if f.default is not MISSING else None
        out.append(Setting(attr=f.name, default=default, kind=kind, **meta))
    return tuple(out)


SETTINGS: tuple[Setting, ...] = _settings()
BY_KEY = {s.key: s for s in SETTINGS}
BY_ENV = {s.env: s for s in SETTINGS}
BY_ATTR = {s.attr: s for s in SETTINGS}


# -- decoding one value from one source ---------------------------------------------------


class _Invalid(ValueError):
    """A value a setting does not accept; the caller adds the key and the source."""


def _number(setting: Setting, value: Any, *, text: bool) -> float:
    whole = setting.kind is int
    if isinstance(value, bool) or (not text and not isinstance(value, int | float)):
        raise _Invalid("a whole number" if whole else "a number")
    try:
        number = float(value) if not whole or not text else int(str(value).strip(), 10)
    except ValueError:
        raise _Invalid("a whole number" if whole else "a number") from None
    if whole and (isinstance(value, float) and not float(value).is_integer()):
        raise _Invalid("a whole number")
    if not math.isfinite(number):
        raise _Invalid("a finite number")
    if setting.positive and number <= 0:
        raise _Invalid("a number above 0")
    low, high = setting.low, setting.high
    if (low is not None and number < low) or (high is not None and number > high):
        if high is None:
            raise _Invalid(f"at least {_show(low)}")
        raise _Invalid(f"between {_show(low)} and {_show(high)}")
    return number


def _show(bound: float | None) -> str:
    return str(int(bound)) if bound is not None and float(bound).is_integer() else str(bound)


def decode_value(setting: Setting, value: Any, *, text: bool) -> Any:
    """`value` as the setting's type, within its bounds; `text`: from a variable or a flag."""
    if setting.kind is bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower() if text else None
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise _Invalid("true or false")
    if setting.kind in (int, float):
        number = _number(setting, value, text=text)
        return int(number) if setting.kind is int else float(number)
    if setting.kind is Path and isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise _Invalid("a text (put it in quotes)")
    if setting.choices:
        wanted = value.upper() if setting.key == "log.level" else value
        if wanted not in setting.choices:
            raise _Invalid(f"one of {', '.join(setting.choices)}")
        return wanted
    return Path(value) if setting.kind is Path else value


def _refuse(setting: Setting, value: Any, expected: str, source: str) -> BadRequest:
    return BadRequest(
        f"setting {setting.key} must be {expected}, not {value!r} ({source})", field=setting.key
    )


# -- the YAML file, with line numbers -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Leaf:
    key: str
    value: Any
    line: int


def _yaml_leaves(path: Path, text: str) -> Iterator[_Leaf]:
    """Every dotted key of the file with its value and line; refuses keys LLS does not know."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise BadRequest(f"config file {path} is not valid YAML: {exc}") from None
    if root is None:
        return
    if not isinstance(root, yaml.MappingNode):
        raise BadRequest(f"config file {path} must hold a mapping of settings (key: value)")
    constructor = yaml.SafeLoader("")
    prefixes = {s.key.rsplit(".", 1)[0] for s in SETTINGS if "." in s.key}

    def walk(node: yaml.MappingNode, prefix: str) -> Iterator[_Leaf]:
        for key_node, value_node in node.value:
            name = f"{prefix}{constructor.construct_object(key_node)}"
            line = key_node.start_mark.line + 1
            if name in BY_KEY:
                if isinstance(value_node, yaml.MappingNode | yaml.SequenceNode):
                    raise BadRequest(
                        f"setting {name} must be a single value ({path} line {line})", field=name
                    )
                yield _Leaf(name, constructor.construct_object(value_node, deep=True), line)
            elif name in prefixes and isinstance(value_node, yaml.MappingNode):
                yield from walk(value_node, name + ".")
            elif name in prefixes and constructor.construct_object(value_node) is None:
                continue  # an empty section (`sync:` with nothing under it)
            else:
                raise BadRequest(f"unknown setting {name} ({path} line {line}){_guess(name)}")

    yield from walk(root, "")


def _guess(name: str) -> str:
    close = difflib.get_close_matches(name, list(BY_KEY), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else "; config/lls.yaml lists every setting"


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadRequest(f"cannot read config file {path}: {exc.strerror}") from None
    values: dict[str, Any] = {}
    for leaf in _yaml_leaves(path, text):
        if leaf.value is None:  # `key:` with no value: the default
            continue
        item = BY_KEY[leaf.key]
        try:
            values[item.attr] = decode_value(item, leaf.value, text=False)
        except _Invalid as bad:
            raise _refuse(item, leaf.value, str(bad), f"{path} line {leaf.line}") from None
    return values


# -- the policy file (its content is parsed by lls.domain.policy_file) -----------------------


POLICY_FILE_MAX_BYTES = 1024 * 1024


def read_policy_file(path: Path) -> str:
    """The text of the seat policy file `policy.file` names; refuses what is not a small
    regular file (a FIFO would hang the reload, a huge file is a mistake)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise BadRequest(f"policy file {path} is not a regular file", field="policy.file")
        if info.st_size > POLICY_FILE_MAX_BYTES:
            raise BadRequest(
                f"policy file {path} is {info.st_size:,} bytes; at most {POLICY_FILE_MAX_BYTES:,}",
                field="policy.file",
            )
        data = path.read_bytes()[: POLICY_FILE_MAX_BYTES + 1]
    except OSError as exc:
        raise BadRequest(
            f"cannot read policy file {path}: {exc.strerror}", field="policy.file"
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"policy file {path} is not UTF-8 text (byte {exc.start})", field="policy.file"
        ) from None


# -- all sources together -----------------------------------------------------------------


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """`LLS_*` variables that are no setting (a typo, or one the client SDK reads), with a hint."""
    out = []
    for name in sorted(env):
        if name.startswith("LLS_") and name not in BY_ENV and name not in CLIENT_VARIABLES:
            close = difflib.get_close_matches(name, list(BY_ENV), n=1, cutoff=0.75)
            out.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return out


CLIENT_VARIABLES = frozenset({"LLS_AUTH_CONTEXT"})  # read by the client SDK, not the server


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults, then the YAML file, then `LLS_*` variables, then flags (by Config field)."""
    env = os.environ if env is None else env
    values = _read_file(path) if path is not None else {}
    for item in SETTINGS:
        if item.env in env:
            try:
                values[item.attr] = decode_value(item, env[item.env], text=True)
            except _Invalid as bad:
                raise _refuse(
                    item, env[item.env], str(bad), f"environment variable {item.env}"
                ) from None
    for attr, raw in (flags or {}).items():
        if raw is None:
            continue
        item = BY_ATTR[attr]
        try:
            values[attr] = decode_value(item, raw, text=isinstance(raw, str))
        except _Invalid as bad:
            raise _refuse(item, raw, str(bad), f"flag {item.flag or attr}") from None
    return check_config(Config(**values))


def check_config(config: Config) -> Config:
    """Refuse combinations no single setting can catch; returns `config` unchanged."""
    for item in SETTINGS:  # a Config built in code goes through the same rules
        value = getattr(config, item.attr)
        try:
            decode_value(item, str(value) if item.kind is Path else value, text=False)
        except _Invalid as bad:
            raise _refuse(item, value, str(bad), "in code") from None
    if bool(config.tls_cert) != bool(config.tls_key):
        raise BadRequest("settings tls.cert and tls.key go together: set both or neither")
    if config.separate_admin and config.admin_port == config.port:
        raise BadRequest("setting admin.port must differ from listen.port", field="admin.port")
    return config


@dataclass(frozen=True, slots=True)
class ReloadReport:
    """What a reload did: the settings applied, those that wait for a restart, or why not."""

    applied: tuple[str, ...] = ()
    needs_restart: tuple[str, ...] = ()
    error: str | None = None
    kept: bool = True  # on an error: True when the settings in force did not change at all

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "reloaded": self.ok,
            "applied": list(self.applied),
            "needsRestart": list(self.needs_restart),
            "error": self.error,
        }


def changed_settings(old: Config, new: Config) -> tuple[list[Setting], list[Setting]]:
    """The settings whose value differs: (live ones, ones that need a restart)."""
    live: list[Setting] = []
    restart: list[Setting] = []
    for item in SETTINGS:
        if getattr(old, item.attr) != getattr(new, item.attr):
            (live if item.live else restart).append(item)
    return live, restart
