"""Typed state of the dashboard's sub-application (`web.AppKey`)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from lls.http.index_cache import IndexCache
from lls.http.ui.auth import SessionBook, SignInThrottle, Tokens


@dataclass(frozen=True, slots=True)
class UISettings:
    """The dashboard's settings (ui.* in the config file)."""

    idle_s: float
    refresh_s: float
    sign_in_failures: int


UI_APP = web.AppKey("ui_app", web.Application)  # on the daemon's app: the mounted dashboard
TOKENS = web.AppKey("ui_tokens", Tokens)
SESSIONS = web.AppKey("ui_sessions", SessionBook)
THROTTLE = web.AppKey("ui_throttle", SignInThrottle)
SETTINGS = web.AppKey("ui_settings", UISettings)
INDEX = web.AppKey("ui_index", IndexCache)
STATIC_VERSION = web.AppKey("ui_static_version", str)
