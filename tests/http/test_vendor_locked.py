"""Pool license status `locked`: the vendor locked the order (sync-format.md §2).

Every call on it answers `authStatus: "Locked"` with reason LICENSE_LOCKED and
the vendor's text "Order is locked"; its sessions end when the pool is imported.
"""

from __future__ import annotations

from typing import Any

import pytest

from lls.central.grants import parse_grants
from lls.sealed.payloads import PoolPayload
from tests.conftest import ServerFactory
from tests.pools import PRODUCT, grant

FEATURES = [{"code": "PDF", "type": "floating", "count": 2}]
SESSION = {"licenseToken": "SHUT", "productCodes": [PRODUCT], "authContext": "pc-1"}
FEATURE = {"licenseToken": "SHUT", "authContext": "pc-1", "featureCode": "PDF"}
LOCKED = ("Locked", "LICENSE_LOCKED", "Order is locked")


def verdict(body: dict[str, Any]) -> tuple[str, str, str]:
    return body["authStatus"], body["reason"], body["message"]


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("validate", {"licenseToken": "SHUT"}),
        ("validate", {"licenseToken": "SHUT", "authContext": "pc-1"}),
        ("activate", SESSION),
        ("extend", SESSION),
        ("features/checkout", FEATURE),
        ("features/return", FEATURE),
    ],
)
async def test_vendor_locked_license_answers_locked_on_every_call(
    make_server: ServerFactory, endpoint: str, body: dict[str, Any]
) -> None:
    server = await make_server([grant("SHUT", status="locked", features=FEATURES)])
    status, answer = await server.call(endpoint, **body)
    assert status == 200
    assert verdict(answer) == LOCKED


async def test_vendor_lock_in_a_new_pool_ends_live_sessions_and_refuses_the_next_extend(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("SHUT", seats=2, features=FEATURES)])
    await server.activate("SHUT", "pc-1")
    await server.call("features/checkout", **FEATURE)
    status, summary = await server.import_pool(
        [grant("SHUT", seats=2, status="locked", features=FEATURES)], iat=server.clock.now()
    )
    assert (status, summary["sessionsEnded"]) == (200, 1)
    assert server.licensing.reads.live_sessions() == []
    _, extended = await server.call("extend", **SESSION)
    assert verdict(extended) == LOCKED


async def test_deactivate_of_a_vendor_locked_license_is_still_204(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("SHUT", status="locked")])
    status, _ = await server.call("deactivate", licenseToken="SHUT", authContext="pc-1")
    assert status == 204


async def test_a_later_active_pool_lifts_the_vendor_lock(make_server: ServerFactory) -> None:
    server = await make_server([grant("SHUT", status="locked")])
    await server.import_pool([grant("SHUT")], iat=server.clock.now())
    assert (await server.activate("SHUT", "pc-1"))["authStatus"] == "Success"


async def test_vendor_lock_outranks_a_misuse_lock_in_the_message(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("SHUT")])
    server.licensing.state.licenses["SHUT"].locked_at = server.clock.now()  # locked by misuse
    await server.import_pool([grant("SHUT", status="locked")], iat=server.clock.now())
    _, body = await server.call("validate", licenseToken="SHUT")
    assert verdict(body) == LOCKED


def test_pool_payload_accepts_status_locked() -> None:
    import msgspec

    doc = {
        "iss": "v",
        "aud": "a",
        "iat": 1,
        "exp": 2,
        "seq": 1,
        "org": {"id": "o"},
        "licenses": [{"token": "T", "productCodes": ["P"], "status": "locked"}],
    }
    payload = msgspec.convert(doc, type=PoolPayload)
    assert payload.licenses[0].status == "locked"


def test_grants_file_accepts_status_locked() -> None:
    grants = parse_grants(
        {
            "org": {"id": "org-1"},
            "licenses": [{"token": "T-1", "productCodes": ["P"], "status": "locked"}],
        }
    )
    assert grants.licenses[0].status == "locked"
