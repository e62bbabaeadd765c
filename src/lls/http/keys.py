"""Typed application state (`web.AppKey`) shared by the handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

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
LABELS = web.AppKey("labels", LicenseLabels)
