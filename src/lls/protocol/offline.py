"""The four documents of offline activation (sync-format.md §4), for the server and the device.

The device writes a request and a deactivation, the server opens them; the server
seals a response and refreshes, the device opens them. Each side builds and reads
them from these one definitions. Attribute names are snake_case, wire names
camelCase; times inside the documents are RFC 3339 (whole seconds as the server
writes them), `iat` is NumericDate seconds. Fields a writer may leave out have
defaults, unknown fields are ignored, so a newer writer stays readable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from lls.protocol.shapes import Code, FeatureInfo, Jwks, Token, ValidationFields

__all__ = [
    "TYP_OFFLINE_DEACTIVATION",
    "TYP_OFFLINE_REFRESH",
    "TYP_OFFLINE_REQUEST",
    "TYP_OFFLINE_RESPONSE",
    "OfflineDeactivationPayload",
    "OfflineRefreshPayload",
    "OfflineRequestPayload",
    "OfflineResponsePayload",
]

TYP_OFFLINE_REQUEST = "lls-offline-request+jws"
TYP_OFFLINE_RESPONSE = "lls-offline-response+jws"
TYP_OFFLINE_REFRESH = "lls-offline-refresh+jws"
TYP_OFFLINE_DEACTIVATION = "lls-offline-deactivation+jws"


class _Doc(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """Base of the documents: camelCase on the wire, every field written, unknown ones ignored."""


class OfflineRequestPayload(_Doc, frozen=True):
    """`lls-offline-request+jws`: a device asks for a seat it will hold offline."""

    license_token: Token
    product_codes: Annotated[list[Code], msgspec.Meta(min_length=1, max_length=32)]
    auth_context: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    device_keys: Jwks
    nonce: Annotated[str, msgspec.Meta(min_length=8, max_length=128)]
    iat: int
    iss: str | None = None
    aud: str | None = None


class OfflineResponsePayload(ValidationFields, frozen=True):
    """`lls-offline-response+jws`: the activation, its lease, and the ValidationResponse fields."""

    activation_id: str
    license_token: str
    auth_context: str
    nonce: str
    lease_expires_at: datetime
    iss: str | None = None
    aud: str | None = None
    iat: int = 0
    # (LLS) "offline" (carried by the admin) or "borrow" (POST /licensing/borrow).
    kind: str = "offline"


class OfflineRefreshPayload(_Doc, frozen=True):
    """`lls-offline-refresh+jws`: a new lease end for an activation, counted from its issue.

    The server always writes the license, authContext and features; a device reads
    a refresh without them too (the lease's own then stay)."""

    activation_id: str
    lease_expires_at: datetime
    license_token: str | None = None
    auth_context: str | None = None
    features: tuple[FeatureInfo, ...] | None = None
    iss: str | None = None
    aud: str | None = None
    iat: int = 0


class OfflineDeactivationPayload(_Doc, frozen=True):
    """`lls-offline-deactivation+jws`: the device gave its seat back (signed by its key)."""

    activation_id: str
    auth_context: str
    iat: int
    iss: str | None = None
    aud: str | None = None
