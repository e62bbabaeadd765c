"""Handlers of the client licensing API (api.md §2–§5): parse, one domain call, render."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web

from lls.domain.models import FeatureOutcome, Outcome, Reason
from lls.http.body import read_json
from lls.http.keys import GUARD, INSTANCE, LICENSING
from lls.http.routes import add_route
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
T = TypeVar("T")


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": JSON_TYPE})


async def _parse(request: web.Request, schema: type[T]) -> T:
    """Refuse a throttled address first, then read and decode the body strictly."""
    request.app[GUARD].check(request.remote or "")
    return decode(await read_json(request), schema)


def _count_guess(request: web.Request, reason: Reason | None) -> None:
    if reason is Reason.LICENSE_NOT_FOUND:
        request.app[GUARD].record_failure(request.remote or "")


def _answer(request: web.Request, outcome: Outcome) -> web.Response:
    _count_guess(request, outcome.reason)
    return _json(encode(validation_response(outcome)))


def _feature_answer(request: web.Request, outcome: FeatureOutcome) -> web.Response:
    _count_guess(request, outcome.reason)
    return _json(encode(feature_response(outcome)))


async def validate(request: web.Request) -> web.Response:
    req = await _parse(request, ValidateRequest)
    licensing = request.app[LICENSING]
    return _answer(
        request, await licensing.validate(req.licenseToken, req.productCodes, req.authContext)
    )


async def activate(request: web.Request) -> web.Response:
    req = await _parse(request, SessionRequest)
    licensing = request.app[LICENSING]
    return _answer(
        request, await licensing.activate(req.licenseToken, req.productCodes, req.authContext)
    )


async def extend(request: web.Request) -> web.Response:
    req = await _parse(request, SessionRequest)
    licensing = request.app[LICENSING]
    return _answer(
        request, await licensing.extend(req.licenseToken, req.productCodes, req.authContext)
    )


async def deactivate(request: web.Request) -> web.Response:
    req = await _parse(request, DeactivateRequest)
    outcome = await request.app[LICENSING].deactivate(req.licenseToken, req.authContext)
    if outcome.ok:
        return web.Response(status=204)
    return _answer(request, outcome)


async def checkout(request: web.Request) -> web.Response:
    req = await _parse(request, FeatureRequest)
    licensing = request.app[LICENSING]
    return _feature_answer(
        request,
        await licensing.checkout(
            req.licenseToken, req.authContext, req.featureCode, int(req.quantity)
        ),
    )


async def return_units(request: web.Request) -> web.Response:
    req = await _parse(request, FeatureRequest)
    licensing = request.app[LICENSING]
    return _feature_answer(
        request,
        await licensing.return_units(
            req.licenseToken, req.authContext, req.featureCode, int(req.quantity)
        ),
    )


async def instance(request: web.Request) -> web.Response:
    """`GET /licensing/instance`: this server's id and public keys (for offline requests)."""
    info = request.app[INSTANCE]
    return _json(encode({"instanceId": info.instance_id, "keys": info.public_jwks}))


def add_routes(app: web.Application) -> None:
    add_route(app, "POST", "/licensing/validate", validate)
    add_route(app, "POST", "/licensing/activate", activate)
    add_route(app, "POST", "/licensing/extend", extend)
    add_route(app, "POST", "/licensing/deactivate", deactivate)
    add_route(app, "POST", "/licensing/features/checkout", checkout)
    add_route(app, "POST", "/licensing/features/return", return_units)
    add_route(app, "GET", "/licensing/instance", instance)
