"""Connecting to PostgreSQL: the DSN from `store.url`, each session setting once with its reason."""

from __future__ import annotations

import contextlib
import socket
from typing import TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from lls.errors import StorageError

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record]"
SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT_S = 5.0  # a database that does not answer in 5 s is down, for a license server

# Dead-peer detection, in seconds: a node whose database vanished (cable, crash, partition)
# notices within KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_COUNT ≈ 5 s, and so does the
# server, which then ends the session and releases the leader lock for the standby.
KEEPALIVE_IDLE_S = 2
KEEPALIVE_INTERVAL_S = 1
KEEPALIVE_COUNT = 3
USER_TIMEOUT_MS = 5000  # unacknowledged data (a COMMIT sent into a dead link) fails after 5 s

# Sent in the startup packet, so every connection has them from its first statement.
SESSION_SETTINGS: tuple[tuple[str, str, str], ...] = (
    (
        "synchronous_commit",
        "on",
        "an acknowledged activate must survive a crash of the database server: COMMIT returns"
        " only once the WAL is flushed (and, with synchronous standbys configured, replicated)",
    ),
    (
        "idle_in_transaction_session_timeout",
        "10s",
        "a node that hangs inside a transaction must not keep row locks (or, on the leader's"
        " connection, the leader lock) forever; our transactions last milliseconds",
    ),
    (
        "tcp_keepalives_idle",
        str(KEEPALIVE_IDLE_S),
        "the server probes a silent client after 2 s, so it ends a dead leader's session and"
        " frees the advisory lock in seconds rather than the kernel's default two hours",
    ),
    ("tcp_keepalives_interval", str(KEEPALIVE_INTERVAL_S), "one probe a second after that"),
    ("tcp_keepalives_count", str(KEEPALIVE_COUNT), "three unanswered probes and it is dead"),
    (
        "tcp_user_timeout",
        str(USER_TIMEOUT_MS),
        "data the server sent (a COMMIT's answer) that stays unacknowledged 5 s ends the session",
    ),
)


def dsn_from_url(url: str) -> str:
    """The asyncpg DSN for a `store.url` (`postgresql://user[:pw]@host[:port]/db[?…]`)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise StorageError(f"store.url must start with postgresql:// (got {redact(url)!r})")
    if not parts.path.strip("/"):
        raise StorageError(f"store.url names no database: {redact(url)!r} (…/DBNAME)")
    return urlunsplit(("postgresql", *parts[1:]))


def redact(url: str) -> str:
    """`url` without its password, for messages and logs (the password is a secret)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def connect(url: str, *, role: str, command_timeout: float | None = None) -> Conn:
    """A new connection with LLS's session settings; `role` names it in pg_stat_activity."""
    settings = {name: value for name, value, _ in SESSION_SETTINGS}
    settings["application_name"] = f"lls {role}"  # which node's writer or reader it is, for DBAs
    try:
        conn = await asyncpg.connect(
            dsn_from_url(url),
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=command_timeout,
            server_settings=settings,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise StorageError(f"cannot connect to {redact(url)}: {exc}") from exc
    _set_keepalives(conn)
    return conn


def describe(exc: BaseException) -> str:
    """What went wrong, without the values of the rows involved (license tokens are secrets):
    PostgreSQL's DETAIL repeats them, so only its primary message and SQLSTATE are kept."""
    if isinstance(exc, asyncpg.PostgresError):
        return f"{getattr(exc, 'message', None) or type(exc).__name__} [{exc.sqlstate}]"
    return str(exc) or type(exc).__name__


def _set_keepalives(conn: Conn) -> None:
    """Client-side keepalives: asyncpg has no option for them, so set them on its socket."""
    transport = getattr(conn, "_transport", None)  # asyncpg keeps it private; best effort
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # a Unix socket has no peer that can vanish silently
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
