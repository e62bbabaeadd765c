"""`GET /admin/v1/audit`: the audit events, paged, filtered by time and type (api.md §6).

Apart from the other admin handlers because of its query: its bounds and the pattern of
`type`, which the OpenAPI document states from the same definition (`lls.http.openapi`).
"""

from __future__ import annotations

import re

from aiohttp import web

from lls.clock import parse_rfc3339, rfc3339
from lls.errors import BadRequest
from lls.http.answers import json_answer
from lls.http.keys import LICENSING

AUDIT_MAX_LIMIT = 1000
AUDIT_MAX_TYPES = 16
# `type` of GET /admin/v1/audit: up to 16 comma-separated event types of up to 64
# characters, a trailing * matching a prefix. One definition: the server checks it and
# the OpenAPI document states it (http.openapi), so a generated query is judged alike.
_EVENT_TYPE = r"[A-Za-z0-9_.:-]{0,63}\*|[A-Za-z0-9_.:-]{1,64}"
AUDIT_TYPES_PATTERN = rf"(?:{_EVENT_TYPE})(?:,(?:{_EVENT_TYPE})){{0,{AUDIT_MAX_TYPES - 1}}}"
_AUDIT_TYPES = re.compile(AUDIT_TYPES_PATTERN)


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number", field=name) from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}", field=name)
    return value


def _since_query(request: web.Request) -> float | None:
    raw = request.query.get("since")
    if raw is None:
        return None
    try:
        return parse_rfc3339(raw)
    except ValueError:
        raise BadRequest("since must be an RFC 3339 time", field="since") from None


def _types_query(request: web.Request) -> tuple[str, ...]:
    raw = request.query.get("type", "")
    if raw and _AUDIT_TYPES.fullmatch(raw) is None:
        raise BadRequest(
            f"type is up to {AUDIT_MAX_TYPES} event types (a trailing * matches a prefix)",
            field="type",
        )
    return tuple(raw.split(",")) if raw else ()


async def audit(request: web.Request) -> web.Response:
    """Events oldest first (`after` pages on), or `order=desc`: newest first (`before` pages on)."""
    after = _int_query(request, "after", 0, 0, 2**62)
    limit = _int_query(request, "limit", 100, 1, AUDIT_MAX_LIMIT)
    before = _int_query(request, "before", 2**62, 1, 2**62) if "before" in request.query else None
    order = request.query.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc", field="order")
    events = await request.app[LICENSING].reads.audit(
        after=after,
        limit=limit,
        before=before,
        since=_since_query(request),
        types=_types_query(request),
        newest_first=order == "desc",
    )
    return json_answer(
        {
            "events": [
                {
                    "id": e.id,
                    "at": rfc3339(e.at),
                    "type": e.type,
                    "license": e.license,
                    "authContext": e.auth_context,
                    "data": e.data,
                    "prevHash": e.prev_hash,
                    "hash": e.hash,
                }
                for e in events
            ]
        }
    )
