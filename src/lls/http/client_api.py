"""Handlers of the client licensing API (api.md §2–§5): parse, one domain call, render."""

from __future__ import annotations

from aiohttp import web

from lls.domain.models import Outcome, Reason
from lls.http.body import read_json
from lls.http.keys import GUARD, INSTANCE, LICENSING
from lls.http.schemas import (
    DeactivateRequest,
    FeatureRequest,
    SessionRequest,
    ValidateRequest,
    decode,
    encode,
    feature_response,
    validation_response,
)

JSON_TYPE = "application/json; charset=utf-8"


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": JSON_TYPE})


def _answer(request: web.Request, outcome: Outcome) -> web.Response:
    if outcome.reason is Reason.LICENSE_NOT_FOUND:
        request.app[GUARD].record_failure(request.remote or "")
    return _json(encode(validation_response(outcome)))


async def validate(request: web.Request) -> web.Response:
    request.app[GUARD].check(request.remote or "")
    req = decode(await read_json(request), ValidateRequest)
    outcome = await request.app[LICENSING].validate(
        req.licenseToken, req.productCodes, req.authContext
    )
    return _answer(request, outcome)


async def activate(request: web.Request) -> web.Response:
    request.app[GUARD].check(request.remote or "")
    req = decode(await read_json(request), SessionRequest)
    outcome = await request.app[LICENSING].activate(
        req.licenseToken, req.productCodes, req.authContext
    )
    return _answer(request, outcome)


async def extend(request: web.Request) -> web.Response:
    request.app[GUARD].check(request.remote or "")
    req = decode(await read_json(request), SessionRequest)
    outcome = await request.app[LICENSING].extend(
        req.licenseToken, req.productCodes, req.authContext
    )
    return _answer(request, outcome)


async def deactivate(request: web.Request) -> web.Response:
    request.app[GUARD].check(request.remote or "")
    req = decode(await read_json(request), DeactivateRequest)
    outcome = await request.app[LICENSING].deactivate(req.licenseToken, req.authContext)
    if outcome.ok:
        return web.Response(status=204)
    return _answer(request, outcome)


async def checkout(request: web.Request) -> web.Response:
    request.app[GUARD].check(request.remote or "")
    req = decode(await read_json(request), FeatureRequest)
    outcome = await request.app[LICENSING].checkout(
        req.licenseToken, req.authContext, req.featureCode, req.quantity
    )
    if outcome.reason is Reason.LICENSE_NOT_FOUND:
        request.app[GUARD].record_failure(request.remote or "")
    return _json(encode(feature_response(outcome)))


async def return_units(request: web.Request) -> web.Response:
    request.app[GUARD].check(request.remote or "")
    req = decode(await read_json(request), FeatureRequest)
    outcome = await request.app[LICENSING].return_units(
        req.licenseToken, req.authContext, req.featureCode, req.quantity
    )
    if outcome.reason is Reason.LICENSE_NOT_FOUND:
        request.app[GUARD].record_failure(request.remote or "")
    return _json(encode(feature_response(outcome)))


async def instance(request: web.Request) -> web.Response:
    """`GET /licensing/instance`: this server's id and public keys (for offline requests)."""
    info = request.app[INSTANCE]
    return _json(encode({"instanceId": info.instance_id, "keys": info.public_jwks}))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/licensing/validate", validate)
    app.router.add_post("/licensing/activate", activate)
    app.router.add_post("/licensing/extend", extend)
    app.router.add_post("/licensing/deactivate", deactivate)
    app.router.add_post("/licensing/features/checkout", checkout)
    app.router.add_post("/licensing/features/return", return_units)
    app.router.add_get("/licensing/instance", instance)
