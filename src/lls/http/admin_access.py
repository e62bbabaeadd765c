"""Who may reach the admin API: the Host it was asked for (DNS rebinding), then the throttle
of wrong tokens, then the bearer token itself, compared in constant time."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from aiohttp import web

from lls.errors import Forbidden, LLSError, Unauthorized
from lls.http.admin_throttle import AdminTokenThrottle
from lls.http.keys import ADMIN_TOKEN, LICENSING
from lls.ops.logs import fields

log = logging.getLogger(__name__)

ALWAYS_ALLOWED = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - names of "every address"


@dataclass(frozen=True, slots=True)
class AdminAccess:
    hosts: frozenset[str]
    throttle: AdminTokenThrottle


ADMIN_ACCESS = web.AppKey("admin_access", AdminAccess)


def allowed_hosts(listen_host: str, extra: str) -> frozenset[str]:
    """The Host names the admin API answers to: its listen address (unless a wildcard),
    localhost, 127.0.0.1, [::1], and the comma-separated `extra` (admin.allowed_hosts)."""
    names = {host_name(n) for n in extra.split(",") if n.strip()}
    listen = host_name(listen_host)
    if listen not in WILDCARDS:
        names.add(listen)
    return frozenset(names | ALWAYS_ALLOWED)


def host_name(value: str) -> str:
    """`Example.COM:8081` → `example.com`, `[::1]:8081` → `::1`: the name without port."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def host_refusal(request: web.Request) -> Forbidden | None:
    """Why this admin request (API or dashboard page) is refused for its Host, if it is:
    a page that DNS rebinding pointed at this listener must get nothing."""
    access = request.config_dict.get(ADMIN_ACCESS)
    if access is None:
        return None
    host = request.headers.get("Host", "")
    if host_name(host) in access.hosts:
        return None
    return Forbidden(
        f"the admin API does not answer to Host {host or '(none)'!r}; it answers to"
        f" {', '.join(sorted(access.hosts))} (add a name to admin.allowed_hosts)",
        code="HOST_NOT_ALLOWED",
    )


async def admit_admin(request: web.Request) -> None:
    """Raise unless this admin request may go on: Host allowed, address not throttled,
    the right bearer token. A wrong token is counted; crossing the limit is audited."""
    access = request.app[ADMIN_ACCESS]
    refusal = host_refusal(request)
    if refusal is not None:
        raise refusal
    address = request.remote or ""
    access.throttle.check(address)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expected = request.app[ADMIN_TOKEN]
    if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected):
        access.throttle.succeeded(address)
        return
    episode = access.throttle.failed(address)
    if episode is not None:
        log.warning(
            "admin API: %s sent %d wrong admin tokens; throttled for the rest of the window",
            address,
            episode.failures,
            extra=fields(remote=address, failures=episode.failures),
        )
        data: dict[str, object] = {
            "address": address,
            "failures": episode.failures,
            "windowSeconds": episode.window_s,
        }
        if episode.unaudited:
            data["unaudited"] = episode.unaudited
        try:
            await request.app[LICENSING].record_event("admin.throttled", data)
        except LLSError as error:  # the 401 stands; the audit write is best effort
            log.error("admin API: cannot audit a throttled address: %s", error.message)
    raise Unauthorized("a valid admin token is required (Authorization: Bearer …)")
