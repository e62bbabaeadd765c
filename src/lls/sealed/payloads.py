"""Payload schema of every file that crosses the air gap (sync-format.md §2, §3, §6).

Both sides build and read files from these one definitions: the instance reads
pools and writes registrations and usage files, the central tooling does the
opposite. The offline activation documents (§4), which a device reads too, are in
lls.protocol.offline. Field names are the wire names (camelCase); times inside
documents are RFC 3339 strings, JWT claims (`iat`, `exp`) are NumericDate seconds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from lls.protocol.shapes import Code, Contact, FeatureGrant, Jwks, Token

TYP_REGISTRATION = "lls-registration+jws"
TYP_POOL = "lls-pool+jws"
TYP_USAGE = "lls-usage+jws"
BORROW_MAX_S = 31_536_000  # a borrow may last up to 365 days


class _Wire(msgspec.Struct, frozen=True, forbid_unknown_fields=False, omit_defaults=False):
    """Base for wire documents: unknown fields are ignored so newer writers stay readable."""


class Org(_Wire, frozen=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    name: str = ""


class Misuse(_Wire, frozen=True):
    maxAuthContexts: Annotated[int, msgspec.Meta(ge=1)]
    windowSeconds: Annotated[int, msgspec.Meta(ge=1)]


class LicenseGrant(_Wire, frozen=True):
    """One license as the vendor grants it; defaults are the online API's."""

    token: Token
    productCodes: Annotated[list[Code], msgspec.Meta(min_length=1, max_length=32)]
    validFrom: str | None = None
    validUntil: str | None = None
    type: Literal["floating", "node-locked", "temporary"] = "floating"
    seats: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1
    status: Literal["active", "suspended", "revoked", "locked"] = "active"
    isTrial: bool = False
    temporaryDays: Annotated[int, msgspec.Meta(ge=1)] | None = None
    sessionWindowSeconds: Annotated[int, msgspec.Meta(ge=10, le=86_400 * 30)] = 600
    offlineLeaseSeconds: Annotated[int, msgspec.Meta(ge=60)] = 2_592_000
    contact: Contact | None = None
    companyName: str | None = None
    orgId: str | None = None
    misuse: Misuse | None = None
    features: list[FeatureGrant] = []
    # A non-secret name for metrics, logs and admin views ([A-Za-z0-9._-]{1,64}, unique
    # in the pool); checked by the import rules so a bad one is refused by name.
    id: str | None = None
    # How long a live session may borrow its seat (sync-format §2); 0: no borrowing.
    borrowMaxSeconds: Annotated[int, msgspec.Meta(ge=0, le=BORROW_MAX_S)] = 0


class PoolPayload(_Wire, frozen=True):
    """`lls-pool+jws`: the whole desired state of one instance (sync-format.md §2)."""

    iss: str
    aud: str
    iat: int
    exp: int
    seq: Annotated[int, msgspec.Meta(ge=1)]
    org: Org
    licenses: list[LicenseGrant]
    ackUsageSeq: Annotated[int, msgspec.Meta(ge=0)] = 0


class RegistrationNode(_Wire, frozen=True):
    """One node of an instance on PostgreSQL (a high-availability pair)."""

    hostname: str
    fingerprint: str


class RegistrationPayload(_Wire, frozen=True):
    """`lls-registration+jws`: a new instance introduces itself to the vendor (§6)."""

    iss: str
    aud: str
    iat: int
    keys: Jwks
    hostname: str
    fingerprint: str
    version: str
    nodes: tuple[RegistrationNode, ...] = ()  # every node of a pair; empty: one machine


class UsageEvent(_Wire, frozen=True):
    id: int
    at: str
    type: str
    license: str | None = None
    authContext: str | None = None
    data: dict[str, Any] = {}
    prevHash: str | None = None
    hash: str | None = None


class EventRange(_Wire, frozen=True):
    first: int | None
    last: int | None


class FeatureUsage(_Wire, frozen=True):
    code: str
    consumed: int = 0
    inUse: int = 0


class LicenseUsage(_Wire, frozen=True):
    token: str
    seats: int
    liveSessions: int
    peakSessions: int
    features: list[FeatureUsage] = []


class ClockReport(_Wire, frozen=True):
    tamperDetected: bool
    floor: str


class UsagePayload(_Wire, frozen=True):
    """`lls-usage+jws`: every event after the vendor's last acknowledgement (§3)."""

    iss: str
    aud: str
    iat: int
    seq: int
    poolSeq: int
    events: list[UsageEvent]
    eventRange: EventRange
    licenses: list[LicenseUsage]
    clock: ClockReport
    chainHead: str | None = None
