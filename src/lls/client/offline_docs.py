"""The documents of offline activation as the device reads and keeps them (sync-format.md §4).

Token payloads (`ResponsePayload`, `RefreshPayload`) are read with unknown fields ignored
and every (LLS) field optional where the contract lets a writer leave it out;
the device's own state file (`DeviceState`) is versioned.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from lls.client.models import AuthStatus, Contact, FeatureInfo, InstanceInfo

__all__ = [
    "STATE_VERSION",
    "DeviceState",
    "Lease",
    "PendingRequest",
    "RefreshPayload",
    "ResponsePayload",
]

STATE_VERSION = 1


class _Camel(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """Base of the documents here: camelCase on the wire and on disk, unknown fields ignored."""


class Lease(_Camel, frozen=True):
    """An applied offline activation: what the application may use, and until when."""

    activation_id: str
    license_token: str
    auth_context: str
    lease_expires_at: datetime
    product_code: str | None = None
    is_trial: bool = False
    company_name: str | None = None
    contact: Contact | None = None
    license_expires_at: datetime | None = None
    features: tuple[FeatureInfo, ...] = ()
    issued_at: int = 0  # `iat` of the token that set lease_expires_at (refreshes never go back)
    # "offline" (an admin carried the request) or "borrow" (a live session borrowed its seat)
    kind: str = "offline"

    def valid(self, now: datetime | None = None) -> bool:
        """True while `now` (default: this machine's clock) is before the lease's end."""
        return (now or datetime.now(UTC)) < self.lease_expires_at

    def feature(self, code: str) -> FeatureInfo | None:
        """The granted feature with this code (offline leases carry boolean features only)."""
        return next((f for f in self.features if f.code == code), None)


class ResponsePayload(_Camel, frozen=True):
    """`lls-offline-response+jws` payload: the activation plus the ValidationResponse fields."""

    activation_id: str
    license_token: str
    auth_context: str
    nonce: str
    lease_expires_at: datetime
    auth_status: AuthStatus = AuthStatus.SUCCESS
    reason: str | None = None
    message: str | None = None
    product_code: str | None = None
    is_trial: bool = False
    company_name: str | None = None
    contact: Contact | None = None
    license_expires_at: datetime | None = None
    features: tuple[FeatureInfo, ...] = ()
    iss: str | None = None
    aud: str | None = None
    iat: int = 0
    kind: str = "offline"


class RefreshPayload(_Camel, frozen=True):
    """`lls-offline-refresh+jws` payload: a new lease end for an activation."""

    activation_id: str
    lease_expires_at: datetime
    license_token: str | None = None
    auth_context: str | None = None
    features: tuple[FeatureInfo, ...] | None = None
    iss: str | None = None
    aud: str | None = None
    iat: int = 0


class PendingRequest(_Camel, frozen=True):
    nonce: str
    license_token: str
    product_codes: list[str]
    auth_context: str
    iat: int


class DeviceState(_Camel, frozen=True):
    """The state file: everything the device remembers besides its keys."""

    version: int = STATE_VERSION
    server: InstanceInfo | None = None
    pending: tuple[PendingRequest, ...] = ()
    lease: Lease | None = None
    deactivation_token: str | None = None
