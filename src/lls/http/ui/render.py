"""Rendering the dashboard's templates: the Jinja2 environment (autoescaping always on), its
filters for times and numbers, and the context every page shares."""

from __future__ import annotations

import time
from collections.abc import Mapping
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from lls import __version__
from lls.clock import rfc3339
from lls.http.keys import INSTANCE
from lls.http.ui import charts
from lls.http.ui.auth import UISession
from lls.http.ui.keys import SETTINGS, STATIC_VERSION

NAV = (
    ("overview", "Overview", "/ui/"),
    ("licenses", "Licenses", "/ui/licenses"),
    ("sessions", "Sessions", "/ui/sessions"),
    ("pool", "Pool", "/ui/pool"),
    ("usage", "Usage", "/ui/usage"),
    ("offline", "Offline", "/ui/offline"),
    ("audit", "Audit", "/ui/audit"),
)
TITLES = {
    400: "That request cannot be answered",
    403: "Not allowed",
    404: "Not found",
    413: "Too large",
    422: "Refused",
    429: "Too many tries",
    500: "Internal error",
    503: "Not available right now",
}


def utc(ts: float | None, seconds: bool = False) -> str:
    """A moment for people: `2026-05-01 10:00 UTC` (the server's clock is the one that counts)."""
    if ts is None:
        return "—"
    return time.strftime(
        "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC", time.gmtime(ts)
    )


def iso(ts: float | None) -> str:
    return rfc3339(ts) if ts is not None else ""


def relative(ts: float | None, now: float) -> str:
    """`in 5 min`, `3 h ago`, `in 12 days`: how far a moment is from now."""
    if ts is None:
        return ""
    delta = ts - now
    span = abs(delta)
    if span < 60:
        words = f"{int(span)} s"
    elif span < 3600:
        words = f"{int(span // 60)} min"
    elif span < 86_400 * 2:
        words = f"{span / 3600:.1f} h".replace(".0 h", " h")
    else:
        words = f"{int(span // 86_400)} days"
    return f"in {words}" if delta >= 0 else f"{words} ago"


def number(value: int | float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def plain(value: object) -> str:
    """An audit event's data value in words: `a 1, b 2` for a mapping, `none` for empty."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {plain(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) or "none"
    if value is None:
        return "—"
    return str(value)


def urlpart(value: str) -> str:
    """A value as one path segment (a license token may hold `/` or `?`)."""
    return quote(value, safe="")


def query(params: Mapping[str, str], **changes: str | int | None) -> str:
    """The current query string with `changes` (None removes a key); empty values dropped."""
    merged = {k: v for k, v in params.items() if v}
    for key, value in changes.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return "?" + urlencode(merged) if merged else "?"


def setup(app: web.Application) -> None:
    """Jinja2 on the dashboard's sub-application: templates from the package, autoescaped."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("lls.http.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        utc=utc, iso=iso, relative=relative, number=number, urlpart=urlpart, plain=plain
    )
    env.globals.update(
        nav=NAV,
        meter=charts.meter,
        ring=charts.ring,
        qs=query,
        version=__version__,
    )


def static_version() -> str:
    """A digest of the shipped static files, put in their URLs so a browser's cached copy
    is never older than the daemon that serves it."""
    import hashlib

    digest = hashlib.sha256()
    folder = resources.files("lls.http.ui") / "static"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.is_file():
            digest.update(item.name.encode())
            digest.update(item.read_bytes())
    return digest.hexdigest()[:12]


def base_context(request: web.Request, session: UISession | None, current: str) -> dict[str, Any]:
    info = request.config_dict[INSTANCE]
    flash = session.take_flash() if session is not None else None
    return {
        "current": current,
        "session": session,
        "role": session.role.value if session else None,
        "can_change": bool(session and session.can_change),
        "csrf": session.csrf if session else "",
        "flash": flash,
        "instance_id": info.instance_id,
        "static_v": request.app[STATIC_VERSION],
        "refresh_s": request.app[SETTINGS].refresh_s,
        "params": dict(request.query),
        "request_path": request.path_qs,
        "on_license": False,  # the license page leaves out its own token from its tables
    }


def render_page(
    request: web.Request,
    template: str,
    session: UISession | None,
    current: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> web.Response:
    """A page of the dashboard with the shared context (navigation, role, CSRF, flash)."""
    full = base_context(request, session, current)
    full.update(context)
    return aiohttp_jinja2.render_template(template, request, full, status=status)


def error_page(
    request: web.Request, status: int, message: str, *, code: str | None = None
) -> web.Response:
    """A plain-words error page (403, 404, 422, …) that shows no data."""
    context = {
        "status": status,
        "title": TITLES.get(status, "Error"),
        "message": message,
        "code": code,
        "static_v": request.app[STATIC_VERSION],
    }
    return aiohttp_jinja2.render_template("error.html", request, context, status=status)
