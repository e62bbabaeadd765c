"""Typed state of the dashboard's sub-application (`web.AppKey`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from lls.domain.license_index import LicenseIndex
from lls.http.ui.auth import SessionBook, SignInThrottle, Tokens


@dataclass(frozen=True, slots=True)
class UISettings:
    """The dashboard's settings (ui.* in the config file)."""

    idle_s: float
    refresh_s: float


class IndexCache:
    """The license index of the current pool, rebuilt when another pool is imported."""

    def __init__(self) -> None:
        self.index: LicenseIndex | None = None
        self.lock = asyncio.Lock()  # one build at a time, however many pages ask


UI_APP = web.AppKey("ui_app", web.Application)  # on the daemon's app: the mounted dashboard
TOKENS = web.AppKey("ui_tokens", Tokens)
SESSIONS = web.AppKey("ui_sessions", SessionBook)
THROTTLE = web.AppKey("ui_throttle", SignInThrottle)
SETTINGS = web.AppKey("ui_settings", UISettings)
INDEX = web.AppKey("ui_index", IndexCache)
STATIC_VERSION = web.AppKey("ui_static_version", str)
