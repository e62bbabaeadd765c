"""The vendor workspace: register instances, issue pools they can open, read their usage."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import msgspec
import pytest

from lls.central import VendorWorkspace, load_grants_file, parse_grants
from lls.clock import parse_rfc3339
from lls.errors import LLSError
from lls.sealed import KeyPair, PublicKeys, decode_payload, open_sealed, read_sealed_file, seal
from lls.sealed.chain import GENESIS_HASH, chain_hash
from lls.sealed.payloads import (
    TYP_POOL,
    TYP_USAGE,
    ClockReport,
    EventRange,
    LicenseUsage,
    PoolPayload,
    UsageEvent,
    UsagePayload,
)
from tests.central.kit import EXAMPLE_GRANTS, NOW, VENDOR_ID, registration

GRANTS: dict[str, Any] = {
    "org": {"id": "org-42", "name": "Acme"},
    "validDays": 30,
    "licenses": [
        {
            "token": "T-1",
            "productCodes": ["P"],
            "seats": 5,
            "features": [{"code": "F", "type": "floating", "count": 2}],
        },
        {"token": "T-2", "productCodes": ["P"], "type": "node-locked"},
    ],
}


@pytest.fixture(scope="module")
def inst() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="module")
def other() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def ws(tmp_path: Path) -> VendorWorkspace:
    return VendorWorkspace.init(tmp_path / "V", VENDOR_ID)


EVENT_AT = "2026-11-22T10:00:00Z"
# The instance's first event, hashed as the instance hashes it (one function, both sides).
EVENT_1_HASH = chain_hash(
    prev_hash=GENESIS_HASH,
    event_id=1,
    at=parse_rfc3339(EVENT_AT),
    type="session.started",
    license="T-1",
    auth_context="host-17",
    data={},
)


def usage(signer: KeyPair, vendor: PublicKeys, *, seq: int, iss: str = "inst-1") -> str:
    payload = UsagePayload(
        iss=iss,
        aud=VENDOR_ID,
        iat=NOW + 60,
        seq=seq,
        poolSeq=1,
        events=[
            UsageEvent(
                id=1,
                at=EVENT_AT,
                type="session.started",
                license="T-1",
                authContext="host-17",
                prevHash=GENESIS_HASH,
                hash=EVENT_1_HASH,
            )
        ],
        eventRange=EventRange(first=1, last=1),
        licenses=[LicenseUsage(token="T-1", seats=5, liveSessions=1, peakSessions=1)],
        clock=ClockReport(tamperDetected=False, floor="2026-11-22T09:59:00Z"),
        chainHead=EVENT_1_HASH,
    )
    return seal(msgspec.json.encode(payload), typ=TYP_USAGE, signer=signer, recipient=vendor)


def open_pool(token: str, inst: KeyPair, ws: VendorWorkspace) -> PoolPayload:
    raw = open_sealed(token, typ=TYP_POOL, recipient=inst, trusted=[ws.keys.public()])
    return decode_payload(raw, PoolPayload)


def refusal_code(call: Any, *args: Any, **kwargs: Any) -> LLSError:
    with pytest.raises(LLSError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_init_creates_key_0600_public_jwks_and_state(tmp_path: Path) -> None:
    ws = VendorWorkspace.init(tmp_path / "V", VENDOR_ID)

    public = json.loads((tmp_path / "V" / "vendor.jwks").read_text())
    assert stat.S_IMODE((tmp_path / "V" / "vendor.key").stat().st_mode) == 0o600
    assert public["vendorId"] == VENDOR_ID and len(public["keys"]) == 2
    assert PublicKeys.from_jwks(public).kids == ws.keys.public().kids
    assert json.loads((tmp_path / "V" / "state.json").read_text())["vendorId"] == VENDOR_ID


def test_init_existing_workspace_refused(ws: VendorWorkspace) -> None:
    error = refusal_code(VendorWorkspace.init, ws.directory, VENDOR_ID)

    assert error.code == "WORKSPACE_EXISTS"


def test_open_without_workspace_refused(tmp_path: Path) -> None:
    assert refusal_code(VendorWorkspace.open, tmp_path).code == "NO_WORKSPACE"


def test_issue_after_register_pool_opens_with_increasing_seq(
    ws: VendorWorkspace, inst: KeyPair, tmp_path: Path
) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)
    seqs = []
    for n in range(3):
        out = tmp_path / f"{n}.pool"
        VendorWorkspace.open(ws.directory).issue_to_file("inst-1", GRANTS, NOW + n, out)
        seqs.append(open_pool(read_sealed_file(out), inst, ws).seq)

    assert seqs == [1, 2, 3]


def test_issue_fills_claims_from_workspace(ws: VendorWorkspace, inst: KeyPair) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)

    token, pool = ws.issue("inst-1", GRANTS, NOW)

    opened = open_pool(token, inst, ws)
    assert opened == pool
    assert (pool.iss, pool.aud, pool.iat, pool.exp, pool.ackUsageSeq) == (
        VENDOR_ID,
        "inst-1",
        NOW,
        NOW + 30 * 86_400,
        0,
    )
    assert [lic.token for lic in pool.licenses] == ["T-1", "T-2"]


def test_issue_without_record_does_not_consume_seq(ws: VendorWorkspace, inst: KeyPair) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)
    ws.issue("inst-1", GRANTS, NOW)

    _, again = ws.issue("inst-1", GRANTS, NOW)

    assert again.seq == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"licenses": [{"token": "T-1", "productCodes": ["P"], "seats": 0}]}, "licenses[0].seats"),
        ({"licenses": [{"token": "T-1", "productCodes": ["P"], "seat": 5}]}, "licenses[0].seat"),
        ({"licenses": [{"token": "T-1", "productCodes": []}]}, "licenses[0].productCodes"),
        (
            {"licenses": [{"token": "T-1", "productCodes": ["P"], "type": "forever"}]},
            "licenses[0].type",
        ),
        (
            {
                "licenses": [
                    {
                        "token": "T-1",
                        "productCodes": ["P"],
                        "features": [{"code": "F", "type": "consumption"}],
                    }
                ]
            },
            "licenses[0].features[0].count",
        ),
        (
            {"licenses": [{"token": "T-1", "productCodes": ["P"], "validUntil": "next year"}]},
            "licenses[0].validUntil",
        ),
        (
            {"licenses": [{"token": "T-1", "productCodes": ["P"], "type": "temporary"}]},
            "licenses[0].temporaryDays",
        ),
        ({"org": {"id": 42}}, "org.id"),
        ({"validDays": 0}, "validDays"),
        ({"valid_days": 3}, "valid_days"),
        ({"licenses": [{"productCodes": ["P"]}]}, "licenses[0].token"),
        ({"org": None}, "org"),
        ({"licenses": [{"token": "T-1", "productCodes": ["P"], "id": "a b"}]}, "licenses[0].id"),
        ({"licenses": [{"token": "T-1", "productCodes": ["P"], "id": "x" * 65}]}, "licenses[0].id"),
        (
            {"licenses": [{"token": "T-1", "productCodes": ["P"], "borrowMaxSeconds": -1}]},
            "licenses[0].borrowMaxSeconds",
        ),
        (
            {
                "licenses": [
                    {"token": "T-1", "productCodes": ["P"], "borrowMaxSeconds": 400 * 86400}
                ]
            },
            "licenses[0].borrowMaxSeconds",
        ),
        (
            {
                "licenses": [
                    {"token": "T-1", "productCodes": ["P"], "id": "cad"},
                    {"token": "T-2", "productCodes": ["P"], "id": "cad"},
                ]
            },
            "licenses[1].id",
        ),
    ],
)
def test_issue_bad_grants_refused_naming_field(
    change: dict[str, Any], field: str, ws: VendorWorkspace, inst: KeyPair
) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)

    error = refusal_code(ws.issue, "inst-1", {**GRANTS, **change}, NOW)

    assert error.code == "VALIDATION_ERROR" and getattr(error, "field", None) == field


def test_issue_duplicate_license_token_refused(ws: VendorWorkspace, inst: KeyPair) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)
    twice = {**GRANTS, "licenses": [GRANTS["licenses"][0], GRANTS["licenses"][0]]}

    error = refusal_code(ws.issue, "inst-1", twice, NOW)

    assert getattr(error, "field", None) == "licenses[1].token" and "T-1" in error.message


def test_issue_carries_each_license_id_into_the_pool(ws: VendorWorkspace, inst: KeyPair) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)
    named = {**GRANTS, "licenses": [{**GRANTS["licenses"][0], "id": "cad-floor.2"}]}

    token, _ = ws.issue("inst-1", named, NOW)

    assert [lic.id for lic in open_pool(token, inst, ws).licenses] == ["cad-floor.2"]


def test_issue_carries_borrow_max_seconds_into_the_pool(ws: VendorWorkspace, inst: KeyPair) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)
    road = {**GRANTS, "licenses": [{**GRANTS["licenses"][0], "borrowMaxSeconds": 259200}]}

    token, _ = ws.issue("inst-1", road, NOW)
    plain, _ = ws.issue("inst-1", GRANTS, NOW)

    assert [lic.borrowMaxSeconds for lic in open_pool(token, inst, ws).licenses] == [259200]
    assert {lic.borrowMaxSeconds for lic in open_pool(plain, inst, ws).licenses} == {0}


def test_issue_unknown_instance_refused(ws: VendorWorkspace) -> None:
    assert refusal_code(ws.issue, "nobody", GRANTS, NOW).code == "UNKNOWN_INSTANCE"


def test_issue_other_org_than_before_refused(
    ws: VendorWorkspace, inst: KeyPair, tmp_path: Path
) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)
    ws.issue_to_file("inst-1", GRANTS, NOW, tmp_path / "1.pool")

    error = refusal_code(ws.issue, "inst-1", {**GRANTS, "org": {"id": "org-7"}}, NOW)

    assert error.code == "ORG_CHANGED"


def test_register_signed_by_other_key_than_carried_refused(
    ws: VendorWorkspace, inst: KeyPair, other: KeyPair
) -> None:
    token = registration(other, ws.keys.public(), carried=inst)

    assert refusal_code(ws.register, token).code == "BAD_SIGNATURE"
    assert ws.instances == {}


def test_register_for_other_vendor_refused(ws: VendorWorkspace, inst: KeyPair) -> None:
    token = registration(inst, ws.keys.public(), aud="vendor:elsewhere")

    assert refusal_code(ws.register, token).code == "WRONG_AUDIENCE"


def test_register_same_keys_again_is_idempotent(ws: VendorWorkspace, inst: KeyPair) -> None:
    first = ws.register(registration(inst, ws.keys.public()), now=NOW)

    again = ws.register(registration(inst, ws.keys.public()), now=NOW + 99)

    assert again == first


def test_register_same_id_other_keys_refused_unless_forced(
    ws: VendorWorkspace, inst: KeyPair, other: KeyPair, tmp_path: Path
) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)
    ws.issue_to_file("inst-1", GRANTS, NOW, tmp_path / "1.pool")
    token = registration(other, ws.keys.public())

    assert refusal_code(ws.register, token).code == "INSTANCE_KEYS_CHANGED"
    forced = ws.register(token, force=True)
    assert forced.public_keys().kids == other.public().kids and forced.lastSeq == 1


def test_read_usage_records_seq_for_next_pool_ack(ws: VendorWorkspace, inst: KeyPair) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)

    summary = ws.read_usage(usage(inst, ws.keys.public(), seq=4))

    _, pool = VendorWorkspace.open(ws.directory).issue("inst-1", GRANTS, NOW)
    record = VendorWorkspace.open(ws.directory).instance("inst-1")
    assert (summary.instance_id, summary.seq, summary.event_count) == ("inst-1", 4, 1)
    assert pool.ackUsageSeq == 4
    assert (record.lastUsageSeq, record.lastChainHead, record.lastEventId) == (4, EVENT_1_HASH, 1)
    assert summary.verdict == "ok" and summary.recorded


def test_read_usage_unregistered_signer_refused(
    ws: VendorWorkspace, inst: KeyPair, other: KeyPair
) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)

    assert refusal_code(ws.read_usage, usage(other, ws.keys.public(), seq=1)).code == (
        "BAD_SIGNATURE"
    )


def test_read_usage_claiming_other_instance_refused(
    ws: VendorWorkspace, inst: KeyPair, other: KeyPair
) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)
    ws.register(registration(other, ws.keys.public(), iss="inst-2"), now=NOW)

    error = refusal_code(ws.read_usage, usage(other, ws.keys.public(), seq=1, iss="inst-1"))

    assert error.code == "ISSUER_MISMATCH"


def test_read_usage_older_than_last_refused(ws: VendorWorkspace, inst: KeyPair) -> None:
    ws.register(registration(inst, ws.keys.public()), now=NOW)
    ws.read_usage(usage(inst, ws.keys.public(), seq=5))

    error = refusal_code(ws.read_usage, usage(inst, ws.keys.public(), seq=3))

    assert error.code == "REGRESSION"
    assert VendorWorkspace.open(ws.directory).instance("inst-1").lastUsageSeq == 5


def test_example_grants_file_is_valid() -> None:
    grants = parse_grants(load_grants_file(EXAMPLE_GRANTS))

    assert len(grants.licenses) >= 2 and any(lic.features for lic in grants.licenses)


def test_grants_yaml_unquoted_timestamps_become_rfc3339(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        "org: {id: o}\nlicenses:\n  - token: T\n    productCodes: [P]\n"
        "    validFrom: 2026-01-01T00:00:00Z\n    validUntil: 2027-01-01\n"
    )

    lic = parse_grants(load_grants_file(path)).licenses[0]

    assert (lic.validFrom, lic.validUntil) == ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
