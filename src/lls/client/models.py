"""Typed answers of the client API (api.md §2, §4, §5), decoded straight from the wire.

Attribute names are the wire names in snake_case (`authStatus` → `auth_status`);
times are timezone-aware `datetime`s. Every field the online Licensing API does
not send has a default, so the SDK also reads the vendor's online server.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec

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


class AuthStatus(enum.StrEnum):
    """`authStatus`: Success, or one of the two kinds of refusal."""

    SUCCESS = "Success"
    FAILED = "Failed"
    LOCKED = "Locked"


class Reason(enum.StrEnum):
    """The refusal reasons of api.md §2 and §4, to compare `reason` against.

    `reason` itself stays a plain `str` so a reason a newer server adds still
    decodes; a `StrEnum` member compares equal to its string.
    """

    LICENSE_NOT_FOUND = "LICENSE_NOT_FOUND"
    PRODUCT_MISMATCH = "PRODUCT_MISMATCH"
    LICENSE_EXPIRED = "LICENSE_EXPIRED"
    LICENSE_NOT_YET_VALID = "LICENSE_NOT_YET_VALID"
    LICENSE_SUSPENDED = "LICENSE_SUSPENDED"
    LICENSE_REVOKED = "LICENSE_REVOKED"
    LICENSE_LOCKED = "LICENSE_LOCKED"
    SESSION_LIMIT_REACHED = "SESSION_LIMIT_REACHED"
    NO_ACTIVE_SESSION = "NO_ACTIVE_SESSION"
    NODE_LOCKED = "NODE_LOCKED"
    ENVIRONMENT_OF_OTHER_ORG = "ENVIRONMENT_OF_OTHER_ORG"
    CLOCK_TAMPERED = "CLOCK_TAMPERED"
    POOL_EXPIRED = "POOL_EXPIRED"
    FEATURE_NOT_FOUND = "FEATURE_NOT_FOUND"
    FEATURE_EXHAUSTED = "FEATURE_EXHAUSTED"
    FEATURE_NOT_RETURNABLE = "FEATURE_NOT_RETURNABLE"
    BORROW_NOT_ALLOWED = "BORROW_NOT_ALLOWED"
    BAD_DEVICE_KEY = "BAD_DEVICE_KEY"
    # Client-side only: no extend got through within one session window.
    SERVER_UNREACHABLE = "SERVER_UNREACHABLE"


class _Wire(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """Base of answers: immutable, camelCase on the wire, unknown fields ignored."""


class Contact(_Wire, frozen=True):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class FeatureInfo(_Wire, frozen=True):
    """A feature of the license as listed in a ValidationResponse."""

    code: str
    type: str
    total: int | None = None
    available: int | None = None


class ValidationResult(_Wire, frozen=True):
    """The ValidationResponse of api.md §2 (validate, activate, extend, deactivate)."""

    auth_status: AuthStatus
    is_trial: bool = False
    contact: Contact | None = None
    product_code: str | None = None
    company_name: str | None = None
    reason: str | None = None
    message: str | None = None
    session_expires_at: datetime | None = None
    license_expires_at: datetime | None = None
    features: tuple[FeatureInfo, ...] = ()

    @property
    def ok(self) -> bool:
        """True when `auth_status` is Success."""
        return self.auth_status is AuthStatus.SUCCESS

    def feature(self, code: str) -> FeatureInfo | None:
        """The listed feature with this code, or None when the license has no such feature."""
        return next((f for f in self.features if f.code == code), None)


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
