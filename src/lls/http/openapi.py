"""The OpenAPI document: paths and status codes kept by hand, schemas generated from the code.

`openapi.json` beside this module holds what only a person can say: each route,
its parameters, its own status codes and summaries. Everything a request or an
answer looks like comes from the msgspec structs the handlers decode and encode
(`msgspec.json.schema_components`), so the document cannot drift from the
server: a field added to a struct is in the document at once. The statuses every
route of a kind can answer (an admin route: 401, 403, 429; a route reading a
JSON body: 400, 408, 413, 415; a client route: 429) are added here, from the one
place that answers them, rather than repeated by hand on each route.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import msgspec

from lls.domain.models import AuthStatus, Reason
from lls.http.admin_api import DissociateBody
from lls.http.audit_api import AUDIT_TYPES_PATTERN
from lls.http.offline_api import RefreshBody, TokenBody
from lls.http.schemas import (
    ActivateRequest,
    BorrowRequest,
    BorrowResponse,
    DeactivateRequest,
    ErrorBody,
    FeatureRequest,
    FeatureResponse,
    ProblemBody,
    SessionRequest,
    ValidateRequest,
    ValidationResponse,
    VendorErrorBody,
    VendorResponse,
    schema_hook,
)

REF = "#/components/schemas/{name}"
# Every struct a handler decodes from a request or encodes into an answer.
COMPONENTS: tuple[type[msgspec.Struct], ...] = (
    ValidateRequest,
    SessionRequest,
    ActivateRequest,
    DeactivateRequest,
    FeatureRequest,
    BorrowRequest,
    ValidationResponse,
    VendorResponse,
    FeatureResponse,
    BorrowResponse,
    ErrorBody,
    VendorErrorBody,
    ProblemBody,
    DissociateBody,
    TokenBody,
    RefreshBody,
)
# String fields whose values come from a domain enum: the document lists them.
ENUMS: dict[tuple[str, str], type[AuthStatus] | type[Reason]] = {
    ("ValidationResponse", "authStatus"): AuthStatus,
    ("ValidationResponse", "reason"): Reason,
    ("VendorResponse", "authStatus"): AuthStatus,
    ("FeatureResponse", "authStatus"): AuthStatus,
    ("FeatureResponse", "reason"): Reason,
    ("BorrowResponse", "authStatus"): AuthStatus,
    ("BorrowResponse", "reason"): Reason,
}

# compat.vendor_fields_only answers exactly these shapes, nothing else: closed, so an
# answer matches one of "ours or the vendor's" and never both (the routes say oneOf).
CLOSED = ("VendorResponse", "VendorErrorBody")

_RETRY_AFTER = {
    "Retry-After": {"description": "seconds until the window ends", "schema": {"type": "integer"}}
}


def _answer(description: str, media: str, *schemas: str, **extra: Any) -> dict[str, Any]:
    refs = [{"$ref": REF.format(name=name)} for name in schemas]
    schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {"description": description, "content": {media: {"schema": schema}}, **extra}


def _common(path: str, op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The statuses the shared code answers for this kind of route (middleware, body reader)."""
    admin = path.startswith("/admin/")
    media = "application/problem+json" if admin else "application/json"
    # A client error is the online API's shape alone in strict mode (compat.vendor_fields_only).
    shape = ("ProblemBody",) if admin else ("ErrorBody", "VendorErrorBody")
    found: dict[str, dict[str, Any]] = {}
    body = op.get("requestBody", {}).get("content", {})
    if "application/json" in body:
        found["400"] = _answer("malformed input (INVALID_JSON, VALIDATION_ERROR)", media, *shape)
        found["415"] = _answer("the content type is not application/json", media, *shape)
    if body:
        found["408"] = _answer("the body did not arrive in time", media, *shape)
        found["413"] = _answer("the body is over the size bound", media, *shape)
    if admin:
        found["401"] = _answer("missing or wrong admin token", media, *shape)
        found["403"] = _answer(
            "the Host header is not one the admin listener answers to (HOST_NOT_ALLOWED)",
            media,
            *shape,
        )
        found["429"] = _answer(
            "too many wrong admin tokens from this address", media, *shape, headers=_RETRY_AFTER
        )
    elif path.startswith("/licensing/") and body:
        found["429"] = _answer(
            "too many unknown-token lookups from this address", media, *shape, headers=_RETRY_AFTER
        )
    return found


def _components() -> dict[str, Any]:
    _, schemas = msgspec.json.schema_components(
        COMPONENTS, schema_hook=schema_hook, ref_template=REF
    )
    for (struct, field), enum in ENUMS.items():
        prop = schemas[struct]["properties"][field]
        values = [member.value for member in enum]
        if "anyOf" in prop:  # an optional string: the enum, or null
            prop["anyOf"] = [{"enum": values}, {"type": "null"}]
        else:
            prop.clear()
            prop["enum"] = values
    for name in CLOSED:
        schemas[name]["additionalProperties"] = False
    return schemas


@cache
def build_document() -> bytes:
    """The document served at /openapi.json (built once per process)."""
    doc = json.loads((resources.files("lls.http") / "openapi.json").read_text(encoding="utf-8"))
    doc["components"]["schemas"] = {**_components(), **doc["components"].get("schemas", {})}
    for param in doc["paths"]["/admin/v1/audit"]["get"]["parameters"]:
        if param["name"] == "type":  # the server's own rule, stated once (audit_api)
            param["schema"] = {"type": "string", "pattern": f"^(?:{AUDIT_TYPES_PATTERN})?$"}
    for path, ops in doc["paths"].items():
        for op in ops.values():
            if path.startswith("/admin/"):
                op.setdefault("security", [{"adminToken": []}])
            responses = {**_common(path, op), **op["responses"]}
            op["responses"] = dict(sorted(responses.items()))
    return json.dumps(doc, ensure_ascii=False, indent=1).encode()


def document() -> dict[str, Any]:
    """The built document as data (for tests and tools)."""
    doc: dict[str, Any] = json.loads(build_document())
    return doc
