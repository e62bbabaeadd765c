"""lls.protocol: one definition of each shared shape, and the wire form it had before."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

import lls.client
import lls.domain.models
from lls.domain.models import OfflineActivation, Outcome
from lls.protocol.offline import TYP_OFFLINE_RESPONSE, OfflineResponsePayload
from lls.protocol.reasons import AuthStatus, Reason
from lls.protocol.shapes import ClientInfo, Contact, FeatureInfo
from lls.sealed import KeyPair, open_sealed
from lls.sealed.offline_codec import SealedOfflineCodec
from lls.sealed.payloads import LicenseGrant
from tests.pools import grant

NOW = 1_780_000_000.75  # a fraction of a second: the documents carry whole seconds


def test_server_and_sdk_names_are_the_protocol_objects() -> None:
    assert lls.client.Reason is lls.domain.models.Reason is Reason
    assert lls.client.AuthStatus is lls.domain.models.AuthStatus is AuthStatus
    assert lls.client.Contact is lls.domain.models.Contact is Contact
    assert lls.client.FeatureInfo is lls.domain.models.FeatureView is FeatureInfo
    assert lls.client.ClientInfo is lls.domain.models.ClientInfo is ClientInfo


def test_contact_keeps_camel_case_and_nulls_on_the_wire() -> None:
    doc = msgspec.json.decode(msgspec.json.encode(Contact("Ada", None, "ada@example.com")))
    assert doc == {"firstName": "Ada", "lastName": None, "email": "ada@example.com"}


def test_pool_contact_decodes_into_the_one_contact() -> None:
    raw = {**grant("C"), "contact": {"firstName": "Ada", "lastName": "L", "email": None}}
    lic = msgspec.convert(raw, type=LicenseGrant)
    assert lic.contact == Contact("Ada", "L", None)


def test_sealed_offline_response_writes_every_field_and_whole_second_times() -> None:
    server, device = KeyPair.generate(), KeyPair.generate()
    activation = OfflineActivation(
        "act-1", "OFF", "pc-1", "kid-1", device.public().to_jwks(), "n" * 8, NOW, NOW + 60
    )
    outcome = Outcome(
        AuthStatus.SUCCESS,
        product_code="P",
        license_expires_at=NOW + 3600,
        features=(FeatureInfo("DARK", "boolean"),),
    )
    token = SealedOfflineCodec(server, "inst-1").seal_response(activation, outcome, "n" * 8, NOW)

    payload = open_sealed(
        token, typ=TYP_OFFLINE_RESPONSE, recipient=device, trusted=[server.public()]
    )
    doc = msgspec.json.decode(payload)
    assert set(doc) == set(OfflineResponsePayload.__struct_encode_fields__)
    assert doc["leaseExpiresAt"] == "2026-05-28T20:27:40Z"
    assert doc["licenseExpiresAt"] == "2026-05-28T21:26:40Z"
    assert (doc["authStatus"], doc["reason"], doc["contact"]) == ("Success", None, None)
    assert doc["features"] == [
        {"code": "DARK", "type": "boolean", "total": None, "available": None}
    ]
    again = msgspec.json.decode(payload, type=OfflineResponsePayload)
    assert again.lease_expires_at == datetime.fromtimestamp(int(NOW) + 60, UTC)
