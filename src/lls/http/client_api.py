"""Handlers of the client licensing API (api.md §2–§5): parse, one domain call, render.

A missing authContext on a session or feature call stands for the caller's
address (`http.caller`); validate without one stays a stateless check.
"""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from lls.domain.models import AuthStatus, FeatureOutcome, Outcome, Reason
from lls.errors import LLSError, TooManyRequests
from lls.http.body import read_json
from lls.http.caller import caller_context
from lls.http.keys import GUARD, INSTANCE, LICENSING, VENDOR_FIELDS_ONLY
from lls.http.observe import RefusalResponse
from lls.http.routes import add_route
from lls.http.schemas import (
    DeactivateRequest,
    FeatureRequest,
    SessionRequest,
    ValidateRequest,
    VendorErrorBody,
    decode,
    encode,
    feature_response,
    validation_response,
    vendor_response,
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


def _rendered(body: bytes, status: AuthStatus, reason: Reason | None) -> web.Response:
    """A 200 answer; a refusal names its reason for the metrics wrapper (the body may not
    carry it: strict vendor mode)."""
    if status is AuthStatus.SUCCESS:
        return _json(body)
    response = RefusalResponse(body=body, headers={"Content-Type": JSON_TYPE})
    response.refusal_reason = reason.value if reason is not None else status.value.upper()
    return response


def _answer(request: web.Request, outcome: Outcome) -> web.Response:
    _count_guess(request, outcome.reason)
    if request.app[VENDOR_FIELDS_ONLY]:
        body = encode(vendor_response(outcome))
    else:
        body = encode(validation_response(outcome))
    return _rendered(body, outcome.status, outcome.reason)


def _feature_answer(request: web.Request, outcome: FeatureOutcome) -> web.Response:
    _count_guess(request, outcome.reason)
    return _rendered(encode(feature_response(outcome)), outcome.status, outcome.reason)


def _vendor_errors(handler: Handler) -> Handler:
    """A session endpoint whose errors carry only the online API's `{"error"}` (status and
    Retry-After unchanged), for compat.vendor_fields_only; without it the shared renderer's."""

    async def session_endpoint(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except LLSError as error:
            response = _json(encode(VendorErrorBody(error.message)), error.status)
            if isinstance(error, TooManyRequests):
                response.headers["Retry-After"] = str(error.retry_after_s)
            return response

    return session_endpoint


async def validate(request: web.Request) -> web.Response:
    req = await _parse(request, ValidateRequest)
    licensing = request.app[LICENSING]
    return _answer(
        request, await licensing.validate(req.licenseToken, req.productCodes, req.authContext)
    )


async def activate(request: web.Request) -> web.Response:
    req = await _parse(request, SessionRequest)
    licensing = request.app[LICENSING]
    ctx = caller_context(request, req.authContext)
    return _answer(request, await licensing.activate(req.licenseToken, req.productCodes, ctx))


async def extend(request: web.Request) -> web.Response:
    req = await _parse(request, SessionRequest)
    licensing = request.app[LICENSING]
    ctx = caller_context(request, req.authContext)
    return _answer(request, await licensing.extend(req.licenseToken, req.productCodes, ctx))


async def deactivate(request: web.Request) -> web.Response:
    req = await _parse(request, DeactivateRequest)
    ctx = caller_context(request, req.authContext)
    outcome = await request.app[LICENSING].deactivate(req.licenseToken, ctx)
    if outcome.ok:
        return web.Response(status=204)
    return _answer(request, outcome)


async def checkout(request: web.Request) -> web.Response:
    req = await _parse(request, FeatureRequest)
    licensing = request.app[LICENSING]
    ctx = caller_context(request, req.authContext)
    return _feature_answer(
        request, await licensing.checkout(req.licenseToken, ctx, req.featureCode, req.quantity)
    )


async def return_units(request: web.Request) -> web.Response:
    req = await _parse(request, FeatureRequest)
    licensing = request.app[LICENSING]
    ctx = caller_context(request, req.authContext)
    return _feature_answer(
        request,
        await licensing.return_units(req.licenseToken, ctx, req.featureCode, req.quantity),
    )


async def instance(request: web.Request) -> web.Response:
    """`GET /licensing/instance`: this server's id and public keys (for offline requests)."""
    info = request.app[INSTANCE]
    return _json(encode({"instanceId": info.instance_id, "keys": info.public_jwks}))


def add_routes(app: web.Application) -> None:
    """The client routes; app[VENDOR_FIELDS_ONLY] must be set (it is read here, at start)."""
    strict = app[VENDOR_FIELDS_ONLY]
    for path, handler in (
        ("/licensing/validate", validate),
        ("/licensing/activate", activate),
        ("/licensing/extend", extend),
        ("/licensing/deactivate", deactivate),
    ):
        add_route(app, "POST", path, _vendor_errors(handler) if strict else handler)
    add_route(app, "POST", "/licensing/features/checkout", checkout)
    add_route(app, "POST", "/licensing/features/return", return_units)
    add_route(app, "GET", "/licensing/instance", instance)
