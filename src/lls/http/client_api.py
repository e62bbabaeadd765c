"""Handlers of the client licensing API (api.md §2–§5): parse, one domain call, render.

A missing authContext on a session or feature call stands for the caller's
address (`http.caller`); validate without one stays a stateless check.
"""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from lls.domain.borrowing import BorrowAsk
from lls.domain.models import FeatureOutcome, Outcome, Reason
from lls.errors import LLSError, TooManyRequests
from lls.http.body import read_json
from lls.http.caller import caller_context
from lls.http.keys import GUARD, INSTANCE, LICENSING, VENDOR_FIELDS_ONLY
from lls.http.observe import ClientAnswer, Refusal
from lls.http.routes import add_route
from lls.http.schemas import (
    BorrowRequest,
    DeactivateRequest,
    FeatureRequest,
    SessionRequest,
    ValidateRequest,
    VendorErrorBody,
    borrow_response,
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


def _answered(body: bytes, refusal: Refusal | None) -> ClientAnswer:
    """A 200 answer carrying the refusal it reports, for the metrics wrapper to count and log
    (the body may not say it: strict vendor mode, or any order of its fields)."""
    answer = ClientAnswer(body=body, headers={"Content-Type": JSON_TYPE})
    answer.refusal = refusal
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
    if request.app[VENDOR_FIELDS_ONLY]:
        body = encode(vendor_response(outcome))
    else:
        body = encode(validation_response(outcome))
    return _answered(body, refusal)


def _feature_answer(
    request: web.Request, outcome: FeatureOutcome, token: str, auth_context: str
) -> web.Response:
    refusal = _refusal(request, outcome.reason, token, auth_context)
    return _answered(encode(feature_response(outcome)), refusal)


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
    outcome = await licensing.validate(req.licenseToken, req.productCodes, req.authContext)
    return _answer(request, outcome, req.licenseToken, req.authContext)


async def activate(request: web.Request) -> web.Response:
    req = await _parse(request, SessionRequest)
    licensing = request.app[LICENSING]
    ctx = caller_context(request, req.authContext)
    outcome = await licensing.activate(
        req.licenseToken,
        req.productCodes,
        ctx,
        client_address=request.remote,
        client_info=req.clientInfo.to_domain() if req.clientInfo is not None else None,
    )
    return _answer(request, outcome, req.licenseToken, ctx)


async def extend(request: web.Request) -> web.Response:
    req = await _parse(request, SessionRequest)
    licensing = request.app[LICENSING]
    ctx = caller_context(request, req.authContext)
    outcome = await licensing.extend(
        req.licenseToken,
        req.productCodes,
        ctx,
        client_address=request.remote,
        client_info=req.clientInfo.to_domain() if req.clientInfo is not None else None,
    )
    return _answer(request, outcome, req.licenseToken, ctx)


async def deactivate(request: web.Request) -> web.Response:
    req = await _parse(request, DeactivateRequest)
    ctx = caller_context(request, req.authContext)
    outcome = await request.app[LICENSING].deactivate(req.licenseToken, ctx)
    if outcome.ok:
        return web.Response(status=204)
    return _answer(request, outcome, req.licenseToken, ctx)


async def checkout(request: web.Request) -> web.Response:
    req = await _parse(request, FeatureRequest)
    licensing = request.app[LICENSING]
    ctx = caller_context(request, req.authContext)
    outcome = await licensing.checkout(req.licenseToken, ctx, req.featureCode, int(req.quantity))
    return _feature_answer(request, outcome, req.licenseToken, ctx)


async def return_units(request: web.Request) -> web.Response:
    req = await _parse(request, FeatureRequest)
    licensing = request.app[LICENSING]
    ctx = caller_context(request, req.authContext)
    outcome = await licensing.return_units(
        req.licenseToken, ctx, req.featureCode, int(req.quantity)
    )
    return _feature_answer(request, outcome, req.licenseToken, ctx)


async def borrow(request: web.Request) -> web.Response:
    """`POST /licensing/borrow` (LLS): the caller's live session becomes a borrowed seat."""
    req = await _parse(request, BorrowRequest)
    ctx = caller_context(request, req.authContext)
    ask = BorrowAsk(
        req.licenseToken,
        req.productCodes,
        ctx,
        int(req.borrowSeconds),
        {"keys": req.devicePublicKey.keys},
        req.nonce,
    )
    result = await request.app[LICENSING].borrow(ask)
    grant = result.grant
    if grant is None:
        refusal = _refusal(request, result.outcome.reason, req.licenseToken, ctx)
        return _answered(encode(borrow_response(result.outcome)), refusal)
    doc = borrow_response(
        result.outcome,
        grant.activation.id,
        grant.activation.lease_expires_at,
        result.capped,
        grant.token,
    )
    return _answered(encode(doc), None)


async def borrow_return(request: web.Request) -> web.Response:
    """`POST /licensing/borrow/return` (LLS): give the caller's borrowed seat back early."""
    req = await _parse(request, DeactivateRequest)
    ctx = caller_context(request, req.authContext)
    outcome = await request.app[LICENSING].deactivate(req.licenseToken, ctx, borrowed=True)
    if outcome.ok:
        return web.Response(status=204)
    refusal = _refusal(request, outcome.reason, req.licenseToken, ctx)
    return _answered(encode(validation_response(outcome)), refusal)


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
    add_route(app, "POST", "/licensing/borrow", borrow)
    add_route(app, "POST", "/licensing/borrow/return", borrow_return)
    add_route(app, "GET", "/licensing/instance", instance)
