"""The server's side of offline activation tokens (sync-format §4): open requests, seal answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from lls.clock import rfc3339
from lls.domain.models import (
    OfflineActivation,
    OfflineDeactivation,
    OfflineRequest,
    Outcome,
)
from lls.errors import LLSError, SealedFileError
from lls.json_depth import depth_message, too_deep
from lls.sealed.envelope import decode_payload, open_sealed_detail, open_self_signed, seal
from lls.sealed.files import read_sealed_text
from lls.sealed.keys import KeyPair, PublicKeys, kid_of
from lls.sealed.payloads import (
    TYP_OFFLINE_DEACTIVATION,
    TYP_OFFLINE_REFRESH,
    TYP_OFFLINE_REQUEST,
    TYP_OFFLINE_RESPONSE,
    Contact,
    FeatureInfo,
    OfflineDeactivationPayload,
    OfflineRefreshPayload,
    OfflineRequestPayload,
    OfflineResponsePayload,
)


class _DeviceKeysOnly(msgspec.Struct):
    deviceKeys: dict[str, object]


def _claimed_device_keys(payload: bytes) -> PublicKeys:
    """The keys a request presents (read before verifying, only to check it against them)."""
    if too_deep(payload):
        raise SealedFileError(depth_message("the request"), code="BAD_PAYLOAD")
    try:
        doc = msgspec.json.decode(payload, type=_DeviceKeysOnly)
    except (msgspec.MsgspecError, RecursionError):
        raise SealedFileError("the request carries no device keys", code="BAD_PAYLOAD") from None
    return PublicKeys.from_jwks(doc.deviceKeys)


def _features(outcome: Outcome) -> list[FeatureInfo]:
    return [FeatureInfo(f.code, f.type, f.total, f.available) for f in outcome.features]


class SealedOfflineCodec:
    """Implements the domain's `OfflineCodec` with this instance's key pair."""

    def __init__(self, keys: KeyPair, instance_id: str) -> None:
        self._keys = keys
        self._instance_id = instance_id

    def open_request(self, token: str) -> OfflineRequest:
        """A request is self-signed by the device: the signature proves it holds the keys it
        presents; which device may have a seat is then the license's rules, not trust."""
        opened = open_self_signed(
            read_sealed_text(token),
            typ=TYP_OFFLINE_REQUEST,
            recipient=self._keys,
            claimed_keys=_claimed_device_keys,
        )
        doc = decode_payload(opened.payload, OfflineRequestPayload)
        if doc.aud is not None and doc.aud != self._instance_id:
            raise SealedFileError(
                f"the request is for instance {doc.aud!r}, not this one", code="WRONG_AUDIENCE"
            )
        return OfflineRequest(
            license_token=doc.licenseToken,
            product_codes=tuple(doc.productCodes),
            auth_context=doc.authContext,
            device_kid=kid_of(opened.signer.verify),
            device_keys=opened.signer.to_jwks(),
            nonce=doc.nonce,
            iat=doc.iat,
        )

    def open_deactivation(
        self, token: str, device_keys: Sequence[dict[str, object]]
    ) -> OfflineDeactivation:
        """Verify against the device keys recorded at activation, never a key in the token."""
        trusted = [PublicKeys.from_jwks(keys) for keys in device_keys]
        if not trusted:
            raise SealedFileError("no offline activation is recorded", code="BAD_SIGNATURE")
        opened = open_sealed_detail(
            read_sealed_text(token),
            typ=TYP_OFFLINE_DEACTIVATION,
            recipient=self._keys,
            trusted=trusted,
        )
        doc = decode_payload(opened.payload, OfflineDeactivationPayload)
        return OfflineDeactivation(
            activation_id=doc.activationId,
            auth_context=doc.authContext,
            signer_kid=kid_of(opened.signer.verify),
        )

    def seal_response(
        self, activation: OfflineActivation, outcome: Outcome, nonce: str, now: float
    ) -> str:
        lic = outcome.license
        contact = lic.contact if lic is not None else None
        payload = OfflineResponsePayload(
            iss=self._instance_id,
            aud=activation.device_kid,
            iat=int(now),
            activationId=activation.id,
            licenseToken=activation.license,
            authContext=activation.auth_context,
            nonce=nonce,
            leaseExpiresAt=rfc3339(activation.lease_expires_at),
            authStatus=outcome.status.value,
            isTrial=lic.is_trial if lic is not None else False,
            contact=Contact(contact.first_name, contact.last_name, contact.email)
            if contact
            else None,
            productCode=outcome.product_code,
            companyName=lic.company_name if lic is not None else None,
            reason=None,
            message=None,
            licenseExpiresAt=rfc3339(outcome.license_expires_at)
            if outcome.license_expires_at is not None
            else None,
            features=_features(outcome),
            kind=activation.kind,
        )
        return self._seal_to_device(msgspec.json.encode(payload), TYP_OFFLINE_RESPONSE, activation)

    def seal_refresh(self, activation: OfflineActivation, outcome: Outcome, now: float) -> str:
        payload = OfflineRefreshPayload(
            iss=self._instance_id,
            aud=activation.device_kid,
            iat=int(now),
            activationId=activation.id,
            licenseToken=activation.license,
            authContext=activation.auth_context,
            leaseExpiresAt=rfc3339(activation.lease_expires_at),
            features=_features(outcome),
        )
        return self._seal_to_device(msgspec.json.encode(payload), TYP_OFFLINE_REFRESH, activation)

    def read_device_keys(self, jwks: Mapping[str, object]) -> tuple[str, dict[str, object]] | None:
        """A borrow's `devicePublicKey`: one Ed25519 and one X25519 public key, or None.

        A key can parse and still be unusable (a low-order X25519 point: no shared key
        can be computed), so a token is sealed to it once here, before any rule runs.
        """
        try:
            keys = PublicKeys.from_jwks(jwks)
            seal(b"{}", typ=TYP_OFFLINE_RESPONSE, signer=self._keys, recipient=keys)
        except (LLSError, ValueError):
            return None
        return kid_of(keys.verify), keys.to_jwks()

    def _seal_to_device(self, payload: bytes, typ: str, activation: OfflineActivation) -> str:
        device = PublicKeys.from_jwks(activation.device_keys)
        return seal(payload, typ=typ, signer=self._keys, recipient=device)
