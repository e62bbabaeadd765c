"""The device side of offline activation, against tokens built here as the LLS would build them."""

from __future__ import annotations

import json
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from lls.client import OfflineDevice, OfflineError
from lls.errors import SealedFileError
from lls.protocol.offline import (
    TYP_OFFLINE_DEACTIVATION,
    TYP_OFFLINE_REFRESH,
    TYP_OFFLINE_REQUEST,
    TYP_OFFLINE_RESPONSE,
)
from lls.sealed import (
    KeyPair,
    PublicKeys,
    open_sealed_detail,
    open_self_signed,
    seal,
    write_sealed_file,
)

INSTANCE_ID = "inst-test-1"
LEASE_END = "2099-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def lls_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="module")
def stranger() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def device(tmp_path: Path, lls_keys: KeyPair) -> OfflineDevice:
    dev = OfflineDevice(tmp_path / "dev" / "device.jwks")
    dev.pin_server({"instanceId": INSTANCE_ID, "keys": lls_keys.public().to_jwks()})
    return dev


def open_request(token: str, lls_keys: KeyPair) -> tuple[dict[str, Any], Any]:
    """As the LLS opens a request: self-signed by the keys it presents."""
    opened = open_self_signed(
        token,
        typ=TYP_OFFLINE_REQUEST,
        recipient=lls_keys,
        claimed_keys=lambda raw: PublicKeys.from_jwks(json.loads(raw)["deviceKeys"]),
    )
    return json.loads(opened.payload), opened


def response_for(
    request: dict[str, Any],
    *,
    signer: KeyPair,
    typ: str = TYP_OFFLINE_RESPONSE,
    **changes: Any,
) -> str:
    """The LLS's answer to `request`, sealed to the device keys the request carried."""
    doc: dict[str, Any] = {
        "iss": INSTANCE_ID,
        "aud": request["iss"],
        "iat": int(time.time()),
        "activationId": "act-1",
        "licenseToken": request["licenseToken"],
        "authContext": request["authContext"],
        "nonce": request["nonce"],
        "leaseExpiresAt": LEASE_END,
        "authStatus": "Success",
        "isTrial": False,
        "contact": None,
        "productCode": request["productCodes"][0],
        "companyName": "Acme Trading Corp",
        "reason": None,
        "message": None,
        "licenseExpiresAt": LEASE_END,
        "features": [{"code": "DARK_MODE", "type": "boolean", "total": None, "available": None}],
    }
    doc.update(changes)
    recipient = PublicKeys.from_jwks(request["deviceKeys"])
    return seal(msgspec.json.encode(doc), typ=typ, signer=signer, recipient=recipient)


def activated(device: OfflineDevice, lls_keys: KeyPair) -> dict[str, Any]:
    request, _ = open_request(device.offline_request("LIC-OFF", ["ACME_PRO"], "dev-1"), lls_keys)
    device.apply_response(response_for(request, signer=lls_keys))
    return request


def test_device_creates_key_and_state_files_owner_only(
    tmp_path: Path, device: OfflineDevice
) -> None:
    assert stat.S_IMODE(device.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(device.state_path.stat().st_mode) == 0o600
    again = OfflineDevice(device.key_path)
    assert (again.device_id, again.instance_id) == (device.device_id, INSTANCE_ID)


def test_request_opens_on_lls_with_typ_and_fields(device: OfflineDevice, lls_keys: KeyPair) -> None:
    token = device.offline_request("LIC-OFF", ["ACME_PRO"], "dev-1")
    payload, opened = open_request(token, lls_keys)
    assert opened.header["typ"] == TYP_OFFLINE_REQUEST
    assert opened.signer.kids == device.public_keys.kids
    assert payload["iss"] == device.device_id
    assert payload["aud"] == INSTANCE_ID
    assert (payload["licenseToken"], payload["productCodes"], payload["authContext"]) == (
        "LIC-OFF",
        ["ACME_PRO"],
        "dev-1",
    )
    assert PublicKeys.from_jwks(payload["deviceKeys"]).kids == device.public_keys.kids
    assert len(payload["nonce"]) >= 16 and abs(payload["iat"] - time.time()) < 5


def test_requests_carry_fresh_nonces(device: OfflineDevice, lls_keys: KeyPair) -> None:
    nonces = {
        open_request(device.offline_request("LIC-OFF", "ACME_PRO", "dev-1"), lls_keys)[0]["nonce"]
        for _ in range(3)
    }
    assert len(nonces) == 3


def test_request_before_pinning_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OfflineError) as caught:
        OfflineDevice(tmp_path / "d.jwks").offline_request("LIC-OFF", ["ACME_PRO"], "dev-1")
    assert caught.value.code == "NOT_PINNED"


def test_response_applied_gives_valid_lease_that_survives_restart(
    device: OfflineDevice, lls_keys: KeyPair
) -> None:
    activated(device, lls_keys)
    assert device.has_valid_lease()
    lease = OfflineDevice(device.key_path).lease
    assert lease is not None
    assert (lease.activation_id, lease.license_token, lease.auth_context) == (
        "act-1",
        "LIC-OFF",
        "dev-1",
    )
    assert lease.lease_expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert lease.feature("DARK_MODE") is not None


def test_lease_is_invalid_after_its_end(device: OfflineDevice, lls_keys: KeyPair) -> None:
    activated(device, lls_keys)
    assert not device.has_valid_lease(now=datetime(2099, 1, 1, tzinfo=UTC) + timedelta(seconds=1))


def test_answer_of_wrong_typ_is_refused(device: OfflineDevice, lls_keys: KeyPair) -> None:
    request, _ = open_request(device.offline_request("LIC-OFF", ["ACME_PRO"], "dev-1"), lls_keys)
    with pytest.raises(OfflineError) as caught:
        device.apply_response(response_for(request, signer=lls_keys, typ=TYP_OFFLINE_REFRESH))
    assert caught.value.code == "WRONG_TYP"
    assert device.lease is None


def test_response_signed_by_unpinned_key_is_refused(
    device: OfflineDevice, lls_keys: KeyPair, stranger: KeyPair
) -> None:
    request, _ = open_request(device.offline_request("LIC-OFF", ["ACME_PRO"], "dev-1"), lls_keys)
    with pytest.raises(OfflineError) as caught:
        device.apply_response(response_for(request, signer=stranger))
    assert caught.value.code == "BAD_SIGNATURE"
    assert device.lease is None


def test_response_with_unknown_nonce_is_refused(device: OfflineDevice, lls_keys: KeyPair) -> None:
    request, _ = open_request(device.offline_request("LIC-OFF", ["ACME_PRO"], "dev-1"), lls_keys)
    with pytest.raises(OfflineError) as caught:
        device.apply_response(response_for(request, signer=lls_keys, nonce="not-a-nonce-we-sent"))
    assert caught.value.code == "UNKNOWN_NONCE"


def test_response_applied_twice_is_refused_the_second_time(
    device: OfflineDevice, lls_keys: KeyPair
) -> None:
    request, _ = open_request(device.offline_request("LIC-OFF", ["ACME_PRO"], "dev-1"), lls_keys)
    answer = response_for(request, signer=lls_keys)
    device.apply_response(answer)
    with pytest.raises(OfflineError) as caught:
        device.apply_response(answer)
    assert caught.value.code == "UNKNOWN_NONCE"


def test_response_for_other_auth_context_is_refused(
    device: OfflineDevice, lls_keys: KeyPair
) -> None:
    request, _ = open_request(device.offline_request("LIC-OFF", ["ACME_PRO"], "dev-1"), lls_keys)
    with pytest.raises(OfflineError) as caught:
        device.apply_response(response_for(request, signer=lls_keys, authContext="dev-2"))
    assert caught.value.code == "MISMATCH"


def test_refresh_moves_lease_end(device: OfflineDevice, lls_keys: KeyPair) -> None:
    request = activated(device, lls_keys)
    later = "2100-01-01T00:00:00Z"
    lease = device.apply_refresh(
        response_for(request, signer=lls_keys, typ=TYP_OFFLINE_REFRESH, leaseExpiresAt=later)
    )
    assert lease.lease_expires_at == datetime(2100, 1, 1, tzinfo=UTC)
    assert device.lease == lease


def test_refresh_of_other_activation_is_refused(device: OfflineDevice, lls_keys: KeyPair) -> None:
    request = activated(device, lls_keys)
    token = response_for(request, signer=lls_keys, typ=TYP_OFFLINE_REFRESH, activationId="act-9")
    with pytest.raises(OfflineError) as caught:
        device.apply_refresh(token)
    assert caught.value.code == "MISMATCH"


def test_refresh_older_than_applied_is_refused(device: OfflineDevice, lls_keys: KeyPair) -> None:
    request = activated(device, lls_keys)
    old = response_for(request, signer=lls_keys, typ=TYP_OFFLINE_REFRESH, iat=1)
    with pytest.raises(OfflineError) as caught:
        device.apply_refresh(old)
    assert caught.value.code == "STALE"


def test_deactivation_token_drops_lease_and_is_signed_by_device(
    device: OfflineDevice, lls_keys: KeyPair, stranger: KeyPair
) -> None:
    activated(device, lls_keys)
    token = device.deactivation_token()
    assert device.lease is None and not device.has_valid_lease()
    assert OfflineDevice(device.key_path).lease is None
    opened = open_sealed_detail(
        token, typ=TYP_OFFLINE_DEACTIVATION, recipient=lls_keys, trusted=[device.public_keys]
    )
    payload = json.loads(opened.payload)
    assert {k: payload[k] for k in ("activationId", "authContext", "iss", "aud")} == {
        "activationId": "act-1",
        "authContext": "dev-1",
        "iss": device.device_id,
        "aud": INSTANCE_ID,
    }
    with pytest.raises(SealedFileError):
        open_sealed_detail(
            token, typ=TYP_OFFLINE_DEACTIVATION, recipient=lls_keys, trusted=[stranger.public()]
        )
    assert device.last_deactivation_token == token


def test_deactivation_without_lease_is_refused(device: OfflineDevice) -> None:
    with pytest.raises(OfflineError) as caught:
        device.deactivation_token()
    assert caught.value.code == "NO_LEASE"


def test_pinning_another_server_needs_replace(device: OfflineDevice, stranger: KeyPair) -> None:
    other = {"instanceId": "inst-other", "keys": stranger.public().to_jwks()}
    with pytest.raises(OfflineError) as caught:
        device.pin_server(other)
    assert caught.value.code == "ALREADY_PINNED"
    device.pin_server(other, replace=True)
    assert device.instance_id == "inst-other"


def test_apply_response_reads_the_file_the_server_writes_with_comment_lines(
    device: OfflineDevice, lls_keys: KeyPair, tmp_path: Path
) -> None:
    request, _ = open_request(device.offline_request("LIC-OFF", ["ACME_PRO"], "dev-1"), lls_keys)
    path = tmp_path / "response.lls"  # exactly as `lls offline activate --out` writes it
    write_sealed_file(
        path,
        response_for(request, signer=lls_keys),
        {"kind": "lls offline response", "activation": "act-1", "lease ends": LEASE_END},
    )
    lease = device.apply_response(path.read_text())
    assert (lease.activation_id, device.has_valid_lease()) == ("act-1", True)


def test_apply_response_takes_the_path_and_refresh_the_file_text(
    device: OfflineDevice, lls_keys: KeyPair, tmp_path: Path
) -> None:
    request, _ = open_request(device.offline_request("LIC-OFF", ["ACME_PRO"], "dev-1"), lls_keys)
    write_sealed_file(tmp_path / "r.lls", response_for(request, signer=lls_keys), {"kind": "r"})
    device.apply_response(tmp_path / "r.lls")
    later = "2100-01-01T00:00:00Z"
    refresh = response_for(request, signer=lls_keys, typ=TYP_OFFLINE_REFRESH, leaseExpiresAt=later)
    write_sealed_file(tmp_path / "refresh.lls", refresh, {"kind": "lls offline refresh"})
    lease = device.apply_refresh((tmp_path / "refresh.lls").read_text())
    assert lease.lease_expires_at == datetime(2100, 1, 1, tzinfo=UTC)


def test_a_state_file_nested_too_deep_is_refused_not_a_recursion_error(
    device: OfflineDevice,
) -> None:
    device.state_path.write_bytes(b'{"version":1,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}")

    with pytest.raises(OfflineError) as caught:
        OfflineDevice(device.key_path)

    assert caught.value.code == "BAD_STATE" and "deeper than" in str(caught.value)
