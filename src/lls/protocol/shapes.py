"""The value shapes a ValidationResponse carries, and the bounds of request strings.

One definition serves every side: the pool reader decodes `Contact` from a pool
file, the licensing rules hold it and `FeatureGrant` in their licenses and `FeatureInfo` in
their outcomes, the HTTP
layer encodes both into answers, the offline codec seals them into tokens, and
the client SDK decodes them. Attribute names are snake_case, wire names camelCase;
no field is left out when encoding (`null` stays `null`), unknown ones are ignored
when decoding. Positional construction follows the declaration order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from lls.protocol.reasons import AuthStatus

__all__ = [
    "CLIENT_INFO_MAX",
    "ClientInfo",
    "Code",
    "Contact",
    "Count",
    "FeatureGrant",
    "FeatureInfo",
    "Jwks",
    "Token",
    "ValidationFields",
]

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]


class Contact(msgspec.Struct, frozen=True, rename="camel"):
    """The license holder's contact (`contact` of api.md §2; `contact` of a pool's license)."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class FeatureGrant(msgspec.Struct, frozen=True):
    """A feature as a pool grants it (`features` of a pool's license, sync-format §2), and
    as the licensing rules hold it: `count` units (None for a boolean feature)."""

    code: Code
    type: Literal["boolean", "floating", "consumption"]
    count: Count | None = None


class FeatureInfo(msgspec.Struct, frozen=True, rename="camel"):
    """A feature as a ValidationResponse lists it: its units in total and left (None: boolean)."""

    code: str
    type: str  # boolean | floating | consumption
    total: int | None = None
    available: int | None = None


class ValidationFields(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """The ValidationResponse fields (api.md §2) as a reader decodes them: the SDK's
    ValidationResult and the offline response document (protocol.offline) both carry them.

    `reason` stays a plain `str` so a reason a newer server adds still decodes. (The
    server's own encoding, http.schemas.ValidationResponse, fixes the wire order.)"""

    auth_status: AuthStatus
    is_trial: bool = False
    contact: Contact | None = None
    product_code: str | None = None
    company_name: str | None = None
    reason: str | None = None
    message: str | None = None
    license_expires_at: datetime | None = None
    features: tuple[FeatureInfo, ...] = ()

    @property
    def ok(self) -> bool:
        """True when `auth_status` is Success."""
        return self.auth_status is AuthStatus.SUCCESS

    def feature(self, code: str) -> FeatureInfo | None:
        """The listed feature with this code, or None when the license has no such feature."""
        return next((f for f in self.features if f.code == code), None)


class Jwks(msgspec.Struct, frozen=True):
    """A JSON Web Key Set, `{"keys": [...]}` (the keys themselves are read by lls.sealed)."""

    keys: list[dict[str, Any]]


CLIENT_INFO_MAX = 128  # the server refuses longer clientInfo strings (api.md §1)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who holds a seat, in words an admin reads (`clientInfo`, an LLS extension): the SDK
    sends it with activate and extend, the server keeps and shows it, never trusts it."""

    hostname: str | None = None
    user: str | None = None
    application: str | None = None
    version: str | None = None

    def to_wire(self) -> dict[str, str]:
        """The members that are set, each cut to what the server accepts."""
        members = {
            "hostname": self.hostname,
            "user": self.user,
            "application": self.application,
            "version": self.version,
        }
        return {k: v[:CLIENT_INFO_MAX] for k, v in members.items() if v}
