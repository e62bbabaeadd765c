"""Values the licensing rules work with: licenses from the pool, sessions, outcomes, reasons."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# The shapes both ends of the wire share are defined once, in lls.protocol.
from lls.protocol.reasons import AuthStatus as AuthStatus
from lls.protocol.reasons import Reason as Reason
from lls.protocol.shapes import ClientInfo as ClientInfo
from lls.protocol.shapes import Contact as Contact
from lls.protocol.shapes import FeatureGrant, FeatureInfo

FeatureView = FeatureInfo  # a feature as an outcome lists it (the domain's name)

CLOCK_SKEW_S = 300  # sync-format §5: more than 5 minutes below the floor is a rollback


MESSAGES: dict[Reason, str] = {
    Reason.LICENSE_NOT_FOUND: "Invalid license token",
    Reason.PRODUCT_MISMATCH: "Invalid product code",
    Reason.LICENSE_EXPIRED: "License expired",
    Reason.LICENSE_NOT_YET_VALID: "License is not valid yet",
    Reason.LICENSE_SUSPENDED: "License suspended",
    Reason.LICENSE_REVOKED: "License revoked",
    Reason.LICENSE_LOCKED: "License locked after suspected misuse; ask your administrator",
    Reason.SESSION_LIMIT_REACHED: "All seats of this license are in use",
    Reason.NO_ACTIVE_SESSION: "No active session for this license on this device",
    Reason.NODE_LOCKED: "License is bound to another device",
    Reason.ENVIRONMENT_OF_OTHER_ORG: "This environment is bound to another organisation",
    Reason.CLOCK_TAMPERED: "The server clock was turned back; ask your administrator",
    Reason.POOL_EXPIRED: "The license pool of this server has expired; a resync is needed",
    Reason.FEATURE_NOT_FOUND: "No such feature on this license",
    Reason.FEATURE_EXHAUSTED: "Not enough units of this feature are left",
    Reason.FEATURE_NOT_RETURNABLE: "Consumed units cannot be returned",
    Reason.SEAT_RESERVED: "The free seats of this license are reserved for a group",
    Reason.GROUP_LIMIT_REACHED: "Your group already holds all the seats it may",
    Reason.EXCLUDED_BY_POLICY: "The seat policy does not let this device use this license",
    Reason.BORROW_NOT_ALLOWED: "This license does not allow borrowing a seat",
    Reason.BAD_DEVICE_KEY: "The device public key is not one usable Ed25519 and X25519 key",
}
TRIAL_EXPIRED_MESSAGE = "Trial expired"
# The online API's text for an order the vendor locked (pool license status `locked`).
ORDER_LOCKED_MESSAGE = "Order is locked"


class EndReason(enum.StrEnum):
    """Why a session ended (the `reason` of a `session.ended` event)."""

    DEACTIVATED = "deactivated"
    EXPIRED = "expired"
    ADMIN = "admin"
    REVOKED = "revoked"
    BORROWED = "borrowed"  # the seat went on as a borrowed (offline) seat of the same device


@dataclass(frozen=True, slots=True)
class Misuse:
    max_auth_contexts: int
    window_s: int


@dataclass(frozen=True, slots=True)
class License:
    """One license as the newest verified pool grants it."""

    token: str
    product_codes: tuple[str, ...]
    type: str  # floating | node-locked | temporary
    seats: int
    status: str  # active | suspended | revoked | locked (by the vendor)
    valid_from: float | None
    valid_until: float | None
    is_trial: bool
    temporary_days: int | None
    session_window_s: int
    offline_lease_s: int
    contact: Contact | None
    company_name: str | None
    org_id: str
    misuse: Misuse | None
    features: tuple[FeatureGrant, ...]
    # The pool's optional non-secret name of the license (sync-format §2): what metrics,
    # logs and admin views call it instead of anything derived from the token.
    id: str | None = None
    # How long a live session may borrow its seat for the road (0: no borrowing).
    borrow_max_s: int = 0


@dataclass(frozen=True, slots=True)
class Pool:
    """A verified pool file: whole desired state of this instance (sync-format §2)."""

    iss: str
    aud: str
    iat: int
    exp: int
    seq: int
    ack_usage_seq: int
    org_id: str
    org_name: str
    licenses: tuple[License, ...]


@dataclass(slots=True)
class Session:
    """A live session: mutable in memory because extend moves its expiry."""

    id: str
    license: str
    auth_context: str
    started_at: float
    expires_at: float
    # Who holds the seat, for the admin: the address the call came from (a NAT
    # gateway's, behind one) and the clientInfo it sent; None from old clients.
    client_address: str | None = None
    client_info: ClientInfo | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to validate/activate/extend/deactivate, before any rendering."""

    status: AuthStatus
    reason: Reason | None = None
    message: str | None = None
    license: License | None = None
    product_code: str | None = None
    session_expires_at: float | None = None
    license_expires_at: float | None = None
    features: tuple[FeatureView, ...] = ()
    # An activate that waited for a seat (`waitSeconds`) and got none: `waited`, and its
    # place then (1 = next; None when the queue was full and it never joined).
    waited: bool = False
    queue_position: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is AuthStatus.SUCCESS


@dataclass(frozen=True, slots=True)
class FeatureOutcome:
    """The answer to a feature checkout or return (api.md §4)."""

    status: AuthStatus
    feature_code: str
    quantity: int = 0  # units moved by this call
    checked_out: int = 0  # units this session now holds
    available: int | None = None
    expires_at: float | None = None
    reason: Reason | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class PoolSummary:
    """What an import changed, for the admin's answer and the audit log."""

    seq: int
    issued_at: float
    expires_at: float
    licenses: int
    added: int
    changed: int
    removed: int
    sessions_ended: int


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: float
    type: str
    license: str | None
    auth_context: str | None
    data: dict[str, object] = field(default_factory=dict)
    prev_hash: str | None = None
    hash: str | None = None


@dataclass(frozen=True, slots=True)
class OfflineRequest:
    """A verified offline activation request (sync-format §4)."""

    license_token: str
    product_codes: tuple[str, ...]
    auth_context: str
    device_kid: str
    device_keys: dict[str, object]
    nonce: str
    iat: int


@dataclass(slots=True)
class OfflineActivation:
    """A seat held by a device that cannot reach the server, until its lease ends."""

    id: str
    license: str
    auth_context: str
    device_kid: str
    device_keys: dict[str, object]
    nonce: str
    activated_at: float
    lease_expires_at: float
    deactivated_at: float | None = None
    # "offline" (an admin carried the request) or "borrow" (a live session took its seat
    # along: POST /licensing/borrow). Both hold a seat until the lease ends.
    kind: str = "offline"

    def live(self, now: float) -> bool:
        return self.deactivated_at is None and self.lease_expires_at > now


@dataclass(frozen=True, slots=True)
class OfflineDeactivation:
    """A verified deactivation token: which activation, and which device key signed it."""

    activation_id: str
    auth_context: str
    signer_kid: str


@dataclass(frozen=True, slots=True)
class OfflineGrant:
    """What an offline activate or refresh produced: the activation and the sealed token."""

    activation: OfflineActivation
    token: str
