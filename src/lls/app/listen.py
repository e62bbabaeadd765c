"""The listeners: TLS, binding with a message that says why it failed, the URLs they are
reached at, and the warning when the admin API is exposed beyond this machine."""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import ssl

from aiohttp import web

from lls.config.settings import Config
from lls.errors import LLSError, whoami
from lls.http.connections import ConnectionGuard, GuardedSite

log = logging.getLogger("lls.app")  # the daemon's lines keep the logger name they always had


def tls_context(config: Config) -> ssl.SSLContext | None:
    """The server-side TLS context of tls.cert/tls.key, or None when TLS is off."""
    if not config.tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise LLSError(
            f"cannot load tls.cert {config.tls_cert} / tls.key {config.tls_key}: {exc}"
        ) from None
    return context


async def listen(
    runner: web.AppRunner,
    host: str,
    port: int,
    setting: str,
    context: ssl.SSLContext | None,
    guard: ConnectionGuard,
    backlog: int = 1024,
) -> None:
    """Bind one listener, behind the connection guard (header deadline, per-address cap);
    a port in use or an address not here is one line that says why."""
    site = GuardedSite(runner, host, port, guard=guard, ssl_context=context, backlog=backlog)
    try:
        await site.start()
    except OSError as exc:
        raise LLSError(_bind_error(exc, host, port, setting), code="CANNOT_LISTEN") from None


def _bind_error(exc: OSError, host: str, port: int, setting: str) -> str:
    host_setting = setting.replace(".port", ".host")
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use by another process; set {setting} (or stop that process)"
    if exc.errno == errno.EACCES:
        return (
            f"not allowed to listen on port {port} as user {whoami()}: ports below 1024 need"
            f" CAP_NET_BIND_SERVICE; set {setting} to 1024 or above"
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
        return f"cannot listen on {host}: it is not an address of this machine; set {host_setting}"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_about_admin_exposure(config: Config, *, tls: bool) -> None:
    """Say so at start when the admin API is reachable beyond this machine, or in clear."""
    if not config.separate_admin:
        log.warning(
            "admin.port is 0: the admin API shares the client listener on %s:%d;"
            " not recommended (give it a listener of its own, the default 127.0.0.1:8081)",
            config.host,
            config.port,
        )
        exposed = not _is_loopback(config.host)
    else:
        exposed = not _is_loopback(config.admin_host)
    if exposed and not tls:
        log.warning(
            "the admin API is reachable from the network without TLS: the admin token"
            " crosses it in clear; set tls.cert and tls.key"
        )


def local_url(scheme: str, host: str, port: int) -> str:
    host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
