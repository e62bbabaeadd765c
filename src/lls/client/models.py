"""Typed answers of the client API (api.md §2, §4, §5), decoded straight from the wire.

Attribute names are the wire names in snake_case (`authStatus` → `auth_status`);
times are timezone-aware `datetime`s. Every field the online Licensing API does
not send has a default, so the SDK also reads the vendor's online server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

# Defined once for the server and the SDK (lls.protocol); the SDK's names for them.
from lls.protocol.reasons import AuthStatus, Reason
from lls.protocol.shapes import Contact, FeatureInfo, ValidationFields

__all__ = [
    "AuthStatus",
    "BorrowResult",
    "Contact",
    "FeatureInfo",
    "FeatureResult",
    "InstanceInfo",
    "Reason",
    "ValidationResult",
]


class _Wire(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """Base of answers: immutable, camelCase on the wire, unknown fields ignored."""


class ValidationResult(ValidationFields, frozen=True):
    """The ValidationResponse of api.md §2 (validate, activate, extend, deactivate):
    the fields every answer carries (`ok`, `feature(code)`), and the session's end."""

    session_expires_at: datetime | None = None
    # An activate that waited (`wait=`) and got no seat in time: its place then (1 = next).
    queue_position: int | None = None


class BorrowResult(ValidationResult, frozen=True):
    """The answer of `POST /licensing/borrow` (LLS): the ValidationResponse fields and, on
    Success, the borrowed seat: its activation, lease end, whether the server shortened it
    (`capped`) and the sealed token for `OfflineDevice.apply_response`."""

    activation_id: str | None = None
    lease_expires_at: datetime | None = None
    capped: bool | None = None
    token: str | None = None


class FeatureResult(_Wire, frozen=True):
    """The answer of a feature checkout or return (api.md §4).

    `checked_out` is what this session now holds, `available` what is left for
    everyone, `expires_at` follows the session.
    """

    auth_status: AuthStatus
    feature_code: str | None = None
    quantity: int | None = None
    checked_out: int | None = None
    available: int | None = None
    expires_at: datetime | None = None
    reason: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        """True when `auth_status` is Success."""
        return self.auth_status is AuthStatus.SUCCESS


class InstanceInfo(_Wire, frozen=True):
    """`GET /licensing/instance`: the server's id and public JWKS, for offline requests."""

    instance_id: str
    keys: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The wire form, `{"instanceId", "keys"}`, as OfflineDevice.pin_server reads it."""
        return {"instanceId": self.instance_id, "keys": self.keys}
