"""Admin endpoints that apply offline activation tokens (api.md §6, sync-format §4)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web

from lls.clock import rfc3339
from lls.domain.models import OfflineActivation, OfflineGrant
from lls.http.admin_api import POOL_BODY_LIMIT
from lls.http.answers import json_answer
from lls.http.body import LARGE_BODY_TIMEOUT_S, read_json
from lls.http.keys import LICENSING
from lls.http.routes import add_route
from lls.http.schemas import decode

TOKEN_LIMIT = 1024 * 1024  # a request carries two public keys and a few fields


class TokenBody(msgspec.Struct):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=TOKEN_LIMIT)]


class RefreshBody(msgspec.Struct):
    activationId: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


def activation_doc(activation: OfflineActivation, now: float) -> dict[str, Any]:
    return {
        "activationId": activation.id,
        "licenseToken": activation.license,
        "authContext": activation.auth_context,
        "deviceKid": activation.device_kid,
        "activatedAt": rfc3339(activation.activated_at),
        "leaseExpiresAt": rfc3339(activation.lease_expires_at),
        "deactivatedAt": rfc3339(activation.deactivated_at) if activation.deactivated_at else None,
        "live": activation.live(now),
        "kind": activation.kind,
    }


def grant_doc(grant: OfflineGrant) -> dict[str, Any]:
    """An offline activate or refresh as the admin API and the CLI report it."""
    return {
        "activationId": grant.activation.id,
        "leaseExpiresAt": rfc3339(grant.activation.lease_expires_at),
        "token": grant.token,
    }


def _grant(grant: OfflineGrant) -> web.Response:
    return json_answer(grant_doc(grant))


async def activate(request: web.Request) -> web.Response:
    body = decode(await read_json(request, POOL_BODY_LIMIT, LARGE_BODY_TIMEOUT_S), TokenBody)
    return _grant(await request.app[LICENSING].offline_activate(body.token))


async def refresh(request: web.Request) -> web.Response:
    body = decode(await read_json(request), RefreshBody)
    return _grant(await request.app[LICENSING].offline_refresh(body.activationId))


async def deactivate(request: web.Request) -> web.Response:
    body = decode(await read_json(request, POOL_BODY_LIMIT, LARGE_BODY_TIMEOUT_S), TokenBody)
    await request.app[LICENSING].offline_deactivate(body.token)
    return web.Response(status=204)


async def list_activations(request: web.Request) -> web.Response:
    licensing = request.app[LICENSING]
    now = licensing.now()
    activations = licensing.reads.view().offline_by_id.values()
    return json_answer({"activations": [activation_doc(a, now) for a in activations]})


def add_routes(app: web.Application) -> None:
    add_route(app, "POST", "/admin/v1/offline/activate", activate)
    add_route(app, "POST", "/admin/v1/offline/refresh", refresh)
    add_route(app, "POST", "/admin/v1/offline/deactivate", deactivate)
    add_route(app, "GET", "/admin/v1/offline", list_activations)
