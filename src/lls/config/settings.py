"""Every setting of LLS, declared once: each `Config` field carries its YAML key, variable,
bounds and help (`lls.config.declare`), and the tables below are built from them.

Adding a setting is one entry: a field of `Config` whose default is
`setting("section.key", default, "help", env="LLS_…", low=…, live=…)`.
`live=True` marks what a reload (SIGHUP, `lls reload`) applies without a restart.
`config/lls.yaml` documents every setting; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lls.config.declare import Setting, setting, settings_of

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "logfmt", "json")


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


SETTINGS: tuple[Setting, ...] = settings_of(Config)
BY_KEY = {s.key: s for s in SETTINGS}
BY_ENV = {s.env: s for s in SETTINGS}
BY_ATTR = {s.attr: s for s in SETTINGS}
