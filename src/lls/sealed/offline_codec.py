"""The server's side of offline activation tokens (sync-format §4): open requests, seal answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import msgspec

from lls.domain.models import (
    OfflineActivation,
    OfflineDeactivation,
    OfflineRequest,
    Outcome,
)
from lls.errors import LLSError, SealedFileError
from lls.protocol.json_depth import depth_message, too_deep
from lls.protocol.offline import (
    TYP_OFFLINE_DEACTIVATION,
    TYP_OFFLINE_REFRESH,
    TYP_OFFLINE_REQUEST,
    TYP_OFFLINE_RESPONSE,
    OfflineDeactivationPayload,
    OfflineRefreshPayload,
    OfflineRequestPayload,
    OfflineResponsePayload,
)
from lls.sealed.envelope import decode_payload, open_sealed_detail, open_self_signed, seal
from lls.sealed.files import read_sealed_text
from lls.sealed.keys import KeyPair, PublicKeys, kid_of


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


def _at(ts: float) -> datetime:
    """Epoch seconds as the documents' time: UTC, whole seconds (`…T10:00:00Z` on the wire)."""
    return datetime.fromtimestamp(int(ts // 1), UTC)


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
            license_token=doc.license_token,
            product_codes=tuple(doc.product_codes),
            auth_context=doc.auth_context,
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
            activation_id=doc.activation_id,
            auth_context=doc.auth_context,
            signer_kid=kid_of(opened.signer.verify),
        )

    def seal_response(
        self, activation: OfflineActivation, outcome: Outcome, nonce: str, now: float
    ) -> str:
        lic = outcome.license
        payload = OfflineResponsePayload(
            iss=self._instance_id,
            aud=activation.device_kid,
            iat=int(now),
            activation_id=activation.id,
            license_token=activation.license,
            auth_context=activation.auth_context,
            nonce=nonce,
            lease_expires_at=_at(activation.lease_expires_at),
            auth_status=outcome.status,
            is_trial=lic.is_trial if lic is not None else False,
            contact=lic.contact if lic is not None else None,
            product_code=outcome.product_code,
            company_name=lic.company_name if lic is not None else None,
            license_expires_at=_at(outcome.license_expires_at)
            if outcome.license_expires_at is not None
            else None,
            features=outcome.features,
            kind=activation.kind,
        )
        return self._seal_to_device(msgspec.json.encode(payload), TYP_OFFLINE_RESPONSE, activation)

    def seal_refresh(self, activation: OfflineActivation, outcome: Outcome, now: float) -> str:
        payload = OfflineRefreshPayload(
            iss=self._instance_id,
            aud=activation.device_kid,
            iat=int(now),
            activation_id=activation.id,
            license_token=activation.license,
            auth_context=activation.auth_context,
            lease_expires_at=_at(activation.lease_expires_at),
            features=outcome.features,
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
