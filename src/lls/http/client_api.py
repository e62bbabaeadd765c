"""Handlers of the client licensing API (api.md §2–§5): parse, one domain call, render."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web

from lls.domain.models import FeatureOutcome, Outcome, Reason
from lls.http.body import read_json
from lls.http.keys import GUARD, INSTANCE, LICENSING
from lls.http.observe import ClientAnswer, Refusal
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


def _json(body: bytes, refusal: Refusal | None = None) -> ClientAnswer:
    answer = ClientAnswer(body=body, headers={"Content-Type": JSON_TYPE})
    answer.refusal = refusal  # what the observing wrapper counts and logs
    return answer


async def _parse(request: web.Request, schema: type[T]) -> T:
    """Read and decode the body strictly (415/413/400 on bad input)."""
    return decode(await read_json(request), schema)


def _refusal(
    request: web.Request, reason: Reason | None, token: str, auth_context: str | None
) -> Refusal | None:
    """The refusal to count and log; an unknown token is also a guess to throttle.

    Only lookups of unknown tokens are throttled: a valid token is never refused for
    what other users behind the same address (a NAT gateway, a terminal server) did.
    """
    if reason is None:
        return None
    unknown = reason is Reason.LICENSE_NOT_FOUND
    if unknown:
        request.app[GUARD].note_unknown(request.remote or "")  # 429 once over the limit
    return Refusal(reason.value, token, not unknown, auth_context)


def _answer(
    request: web.Request, outcome: Outcome, token: str, auth_context: str | None
) -> web.Response:
    refusal = None if outcome.ok else _refusal(request, outcome.reason, token, auth_context)
    return _json(encode(validation_response(outcome)), refusal)


def _feature_answer(
    request: web.Request, outcome: FeatureOutcome, token: str, auth_context: str
) -> web.Response:
    refusal = _refusal(request, outcome.reason, token, auth_context)
    return _json(encode(feature_response(outcome)), refusal)


async def validate(request: web.Request) -> web.Response:
    req = await _parse(request, ValidateRequest)
    licensing = request.app[LICENSING]
    outcome = await licensing.validate(req.licenseToken, req.productCodes, req.authContext)
    return _answer(request, outcome, req.licenseToken, req.authContext)


async def activate(request: web.Request) -> web.Response:
    req = await _parse(request, SessionRequest)
    licensing = request.app[LICENSING]
    outcome = await licensing.activate(
        req.licenseToken,
        req.productCodes,
        req.authContext,
        client_address=request.remote,
        client_info=req.clientInfo.to_domain() if req.clientInfo is not None else None,
    )
    return _answer(request, outcome, req.licenseToken, req.authContext)


async def extend(request: web.Request) -> web.Response:
    req = await _parse(request, SessionRequest)
    licensing = request.app[LICENSING]
    outcome = await licensing.extend(
        req.licenseToken,
        req.productCodes,
        req.authContext,
        client_address=request.remote,
        client_info=req.clientInfo.to_domain() if req.clientInfo is not None else None,
    )
    return _answer(request, outcome, req.licenseToken, req.authContext)


async def deactivate(request: web.Request) -> web.Response:
    req = await _parse(request, DeactivateRequest)
    outcome = await request.app[LICENSING].deactivate(req.licenseToken, req.authContext)
    if outcome.ok:
        return web.Response(status=204)
    return _answer(request, outcome, req.licenseToken, req.authContext)


async def checkout(request: web.Request) -> web.Response:
    req = await _parse(request, FeatureRequest)
    licensing = request.app[LICENSING]
    outcome = await licensing.checkout(
        req.licenseToken, req.authContext, req.featureCode, req.quantity
    )
    return _feature_answer(request, outcome, req.licenseToken, req.authContext)


async def return_units(request: web.Request) -> web.Response:
    req = await _parse(request, FeatureRequest)
    licensing = request.app[LICENSING]
    outcome = await licensing.return_units(
        req.licenseToken, req.authContext, req.featureCode, req.quantity
    )
    return _feature_answer(request, outcome, req.licenseToken, req.authContext)


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
