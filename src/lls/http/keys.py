"""Typed application state (`web.AppKey`) shared by the handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from lls.config.reload import ReloadReport
from lls.domain.guard import TokenGuessGuard
from lls.domain.service import Licensing
from lls.ops.labels import LicenseLabels


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    instance_id: str
    public_jwks: dict[str, Any]
    version: str


LICENSING = web.AppKey("licensing", Licensing)
GUARD = web.AppKey("guard", TokenGuessGuard)
ADMIN_TOKEN = web.AppKey("admin_token", bytes)
INSTANCE = web.AppKey("instance", InstanceInfo)
# compat.vendor_fields_only: the session endpoints answer the online API's five fields only.
VENDOR_FIELDS_ONLY = web.AppKey("vendor_fields_only", bool)
# Re-reads the config file and applies what can change live (SIGHUP does the same).
RELOAD = web.AppKey[Callable[[], Awaitable[ReloadReport]]]("reload")
LABELS = web.AppKey("labels", LicenseLabels)
