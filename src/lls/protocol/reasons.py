"""`authStatus` and the machine-readable refusal reasons (api.md §2 and §4)."""

from __future__ import annotations

import enum

__all__ = ["AuthStatus", "Reason"]


class AuthStatus(enum.StrEnum):
    """`authStatus`: Success, or one of the two kinds of refusal."""

    SUCCESS = "Success"
    FAILED = "Failed"
    LOCKED = "Locked"


class Reason(enum.StrEnum):
    """The refusal reasons of api.md §2 and §4.

    A client keeps `reason` itself a plain `str`, so a reason a newer server adds
    still decodes; a `StrEnum` member compares equal to its string.
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
    SEAT_RESERVED = "SEAT_RESERVED"  # the seat policy (policy.file) of the server
    GROUP_LIMIT_REACHED = "GROUP_LIMIT_REACHED"
    EXCLUDED_BY_POLICY = "EXCLUDED_BY_POLICY"
    BORROW_NOT_ALLOWED = "BORROW_NOT_ALLOWED"
    BAD_DEVICE_KEY = "BAD_DEVICE_KEY"
    # Client-side only: no extend got through within one session window (a server
    # never sends it).
    SERVER_UNREACHABLE = "SERVER_UNREACHABLE"
