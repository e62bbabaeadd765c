"""Request and response shapes of the client API (api.md §1–§4), and their strict decoding."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import msgspec

from lls.clock import rfc3339
from lls.domain.models import ClientInfo, FeatureOutcome, Outcome
from lls.errors import BadRequest
from lls.protocol.json_depth import depth_message, too_deep
from lls.protocol.shapes import CLIENT_INFO_MAX, Contact, FeatureInfo

Token = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
AuthContext = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
ProductCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ProductCodes = Annotated[list[ProductCode], msgspec.Meta(min_length=1, max_length=32)]
ClientText = Annotated[str, msgspec.Meta(max_length=CLIENT_INFO_MAX)]


class Quantity(int):
    """A whole number of units, 1 to 1,000,000: JSON Schema's `integer`, so `3.0` is 3.

    msgspec refuses a float for an `int` field, but an integral float is an
    integer in JSON Schema (and in the online API's JavaScript clients): it is
    accepted here, while `1.5`, `"2"`, `true` and `null` stay 400 (`_decode_hook`).
    """

    LOW = 1
    HIGH = 1_000_000


class WaitSeconds(int):
    """`waitSeconds` of an activate (LLS): whole seconds 0–300, `185.0` is 185 (as Quantity)."""

    LOW = 0
    HIGH = 300


class BorrowSeconds(int):
    """How long a borrow asks for, 1 s to 365 days: an integer as JSON Schema says (`3.0`
    is 3), decoded like Quantity. A license's borrowMaxSeconds caps it further."""

    LOW = 1
    HIGH = 31_536_000


class ValidateRequest(msgspec.Struct):
    licenseToken: Token
    productCodes: ProductCodes | None = None
    authContext: AuthContext | None = None


class ClientInfoIn(msgspec.Struct):
    """`clientInfo` (LLS extension): who the caller is, for the admin; unknown members ignored."""

    hostname: ClientText | None = None
    user: ClientText | None = None
    application: ClientText | None = None
    version: ClientText | None = None

    def to_domain(self) -> ClientInfo:
        return ClientInfo(self.hostname, self.user, self.application, self.version)


class SessionRequest(msgspec.Struct):
    """activate and extend; without authContext the session is the caller's address's.
    `clientInfo` (LLS) is optional: who holds the seat, for the admin."""

    licenseToken: Token
    productCodes: ProductCodes
    authContext: AuthContext | None = None
    clientInfo: ClientInfoIn | None = None


class ActivateRequest(SessionRequest):
    """activate; `waitSeconds` (LLS): with no seat free for the caller, wait up to this
    long in the license's queue (first in, first out) instead of being refused at once."""

    waitSeconds: WaitSeconds = 0  # type: ignore[assignment]  # a plain default: the schema shows it


class DeactivateRequest(msgspec.Struct):
    licenseToken: Token
    authContext: AuthContext | None = None


class DeviceJwks(msgspec.Struct):
    """A device's public JWKS: `{"keys": [<Ed25519 JWK>, <X25519 JWK>]}` (sync-format §4)."""

    keys: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=8)]


class BorrowRequest(msgspec.Struct, kw_only=True):
    """`POST /licensing/borrow` (LLS): take the caller's live session along as a borrowed seat."""

    licenseToken: Token
    productCodes: ProductCodes | None = None
    authContext: AuthContext | None = None
    borrowSeconds: BorrowSeconds
    devicePublicKey: DeviceJwks
    nonce: Annotated[str, msgspec.Meta(min_length=8, max_length=128)] | None = None


class FeatureRequest(msgspec.Struct, kw_only=True):
    licenseToken: Token
    authContext: AuthContext | None = None
    featureCode: ProductCode
    quantity: Quantity = 1  # type: ignore[assignment]  # a plain default: the schema shows it


class ValidationResponse(msgspec.Struct):
    """The online API's five fields first, in the order of its examples (isTrial, contact,
    productCode, authStatus, companyName); then the (LLS) additions. msgspec encodes
    fields in declaration order, so this order is the wire order (api.md §2)."""

    isTrial: bool
    contact: Contact
    productCode: str | None
    authStatus: str
    companyName: str | None
    reason: str | None
    message: str | None
    sessionExpiresAt: str | None
    licenseExpiresAt: str | None
    features: tuple[FeatureInfo, ...]
    # Only in the answer of an activate that waited (`waitSeconds`) and got no seat in time:
    # its place in the queue then (1 = next; null: the queue was full). Absent otherwise.
    queuePosition: int | msgspec.UnsetType | None = msgspec.UNSET


class BorrowResponse(msgspec.Struct):
    """`POST /licensing/borrow` (LLS): the ValidationResponse fields, then the borrowed seat
    (`activationId`, `leaseExpiresAt`, `capped`, `token`: all null on a refusal)."""

    isTrial: bool
    contact: Contact
    productCode: str | None
    authStatus: str
    companyName: str | None
    reason: str | None
    message: str | None
    licenseExpiresAt: str | None
    features: tuple[FeatureInfo, ...]
    activationId: str | None
    leaseExpiresAt: str | None
    capped: bool | None
    token: str | None


class VendorResponse(msgspec.Struct):
    """compat.vendor_fields_only: exactly the online API's five fields, in its order."""

    isTrial: bool
    contact: Contact
    productCode: str | None
    authStatus: str
    companyName: str | None


class VendorErrorBody(msgspec.Struct):
    """compat.vendor_fields_only: the online API's error shape, `{"error"}` and nothing else."""

    error: str


class FeatureResponse(msgspec.Struct):
    """api.md §4: the checkout/return answer; reason and message are set on refusals."""

    authStatus: str
    featureCode: str
    quantity: int
    checkedOut: int
    available: int | None
    expiresAt: str | None
    reason: str | None
    message: str | None


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """The online API's error shape plus a code (and the field when one is to blame)."""

    error: str
    code: str
    field: str | None = None


class ProblemBody(msgspec.Struct, omit_defaults=True):
    """The admin API's errors: RFC 9457 problem details, plus our code (and field)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None


T = TypeVar("T")
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_encoder = msgspec.json.Encoder()
# The field a msgspec error names: `$.authContext` → authContext, `$.productCodes[0]` →
# productCodes, `$.clientInfo.user` → clientInfo.user (a member of an LLS object).
_PATH = re.compile(r" - at `\$\.?([A-Za-z_]*(?:\.[A-Za-z_]+)*)[^`]*`$")
_MISSING = re.compile(r"^Object missing required field `([^`]+)`")


def _human(name: str) -> str:
    """`licenseToken` → `license token`, as the online API words its messages."""
    return " ".join(re.sub(r"(?<!^)(?=[A-Z])", " ", part).lower() for part in name.split("."))


_WHOLE = (Quantity, BorrowSeconds, WaitSeconds)


def _decode_hook(kind: type[Any], value: Any) -> Any:
    """msgspec calls this for our own types (Quantity, …) with the JSON value."""
    if kind in _WHOLE:
        return _whole(kind, value)
    raise NotImplementedError(kind)


def _whole(kind: type[Quantity] | type[BorrowSeconds] | type[WaitSeconds], value: Any) -> int:
    got = "null" if value is None else type(value).__name__
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"Expected `int`, got `{got}`")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("Expected `int`, got `float` with a fraction")
    if not kind.LOW <= value <= kind.HIGH:
        raise ValueError(f"Expected `int` from {kind.LOW} to {kind.HIGH}")
    return kind(int(value))


def schema_hook(kind: type[Any]) -> dict[str, Any]:
    """JSON Schema of our own types, for the generated OpenAPI components."""
    if kind in _WHOLE:
        return {"type": "integer", "minimum": kind.LOW, "maximum": kind.HIGH}
    raise NotImplementedError(kind)


def decode(body: bytes, schema: type[T]) -> T:
    """Decode a request body strictly; every failure is a 400 naming the field at fault.

    The nesting depth is bounded before msgspec (which has no bound of its own)
    recurses into the body; RecursionError is caught too, should a deep text
    ever slip past the count.
    """
    decoder = _decoders.get(schema)
    if decoder is None:
        decoder = _decoders[schema] = msgspec.json.Decoder(schema, dec_hook=_decode_hook)
    if too_deep(body):
        raise _too_deep()
    try:
        result: T = decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _validation_error(str(exc)) from None
    except msgspec.DecodeError:
        raise BadRequest("the request body is not valid JSON.", code="INVALID_JSON") from None
    except RecursionError:
        raise _too_deep() from None
    return result


def _too_deep() -> BadRequest:
    return BadRequest(f"{depth_message('the request body')}.", code="INVALID_JSON")


def _validation_error(text: str) -> BadRequest:
    missing = _MISSING.match(text)
    if missing:
        name = missing.group(1)
        return BadRequest(f"{_human(name)} field is required.", field=name)
    match = _PATH.search(text)
    name = match.group(1) if match else ""
    detail = text[: match.start()] if match else text
    if not name:
        return BadRequest(f"the request body is invalid: {detail}.")
    if detail.endswith("got `null`"):
        return BadRequest(f"{_human(name)} field is required.", field=name)
    return BadRequest(f"{_human(name)} field is invalid: {detail}.", field=name)


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def _ts(value: float | None) -> str | None:
    return rfc3339(value) if value is not None else None


# The online API always sends a contact object; unknown members are null (api.md §7).
NO_CONTACT = Contact()


def _contact(outcome: Outcome) -> Contact:
    contact = outcome.license.contact if outcome.license is not None else None
    return NO_CONTACT if contact is None else contact


def validation_response(outcome: Outcome) -> ValidationResponse:
    lic = outcome.license
    return ValidationResponse(
        isTrial=lic.is_trial if lic is not None else False,
        contact=_contact(outcome),
        productCode=outcome.product_code,
        authStatus=outcome.status.value,
        companyName=lic.company_name if lic is not None else None,
        reason=outcome.reason.value if outcome.reason is not None else None,
        message=outcome.message,
        sessionExpiresAt=_ts(outcome.session_expires_at),
        licenseExpiresAt=_ts(outcome.license_expires_at),
        features=outcome.features,
        queuePosition=outcome.queue_position if outcome.waited else msgspec.UNSET,
    )


def borrow_response(
    outcome: Outcome,
    activation_id: str | None = None,
    lease_expires_at: float | None = None,
    capped: bool | None = None,
    token: str | None = None,
) -> BorrowResponse:
    v = validation_response(outcome)
    return BorrowResponse(
        isTrial=v.isTrial,
        contact=v.contact,
        productCode=v.productCode,
        authStatus=v.authStatus,
        companyName=v.companyName,
        reason=v.reason,
        message=v.message,
        licenseExpiresAt=v.licenseExpiresAt,
        features=v.features,
        activationId=activation_id,
        leaseExpiresAt=_ts(lease_expires_at),
        capped=capped,
        token=token,
    )


def vendor_response(outcome: Outcome) -> VendorResponse:
    """The same answer cut to the online API's five fields (compat.vendor_fields_only)."""
    lic = outcome.license
    return VendorResponse(
        isTrial=lic.is_trial if lic is not None else False,
        contact=_contact(outcome),
        productCode=outcome.product_code,
        authStatus=outcome.status.value,
        companyName=lic.company_name if lic is not None else None,
    )


def feature_response(outcome: FeatureOutcome) -> FeatureResponse:
    return FeatureResponse(
        authStatus=outcome.status.value,
        featureCode=outcome.feature_code,
        quantity=outcome.quantity,
        checkedOut=outcome.checked_out,
        available=outcome.available,
        expiresAt=_ts(outcome.expires_at),
        reason=outcome.reason.value if outcome.reason is not None else None,
        message=outcome.message,
    )
