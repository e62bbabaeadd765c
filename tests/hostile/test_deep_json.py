"""Point 1 of issue 10: input nested deep enough to exhaust a parser is refused, never a 500."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lls.errors import SealedFileError
from lls.protocol.json_depth import too_deep
from lls.protocol.offline import TYP_OFFLINE_REQUEST
from lls.sealed import KeyPair, decode_payload, open_sealed, seal
from lls.sealed.payloads import TYP_POOL, PoolPayload
from tests.conftest import Server
from tests.pools import PRODUCT

CLIENT_ROUTES = [
    "validate",
    "activate",
    "extend",
    "deactivate",
    "features/checkout",
    "features/return",
]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def deep_unknown_field(levels: int = 2000) -> bytes:
    """A valid request with an unknown field nested `levels` objects deep (about 12 KiB)."""
    nested = b'{"x":' * levels + b"1" + b"}" * levels
    head = json.dumps(
        {"licenseToken": "LIC-ONE", "productCodes": [PRODUCT], "authContext": "h1"}
    ).encode()
    return head[:-1] + b', "deep": ' + nested + b"}"


def _lls_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("lls")]


@pytest.mark.parametrize("route", CLIENT_ROUTES)
async def test_client_route_deep_body_gives_400_one_log_line_no_traceback(
    server: Server, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = deep_unknown_field()
    assert len(body) < 16 * 1024

    resp = await server.client.post(
        f"/licensing/{route}", data=body, headers={"Content-Type": "application/json"}
    )

    assert resp.status == 400
    doc = await resp.json()
    assert doc["code"] == "INVALID_JSON"
    assert "deeper than 32 levels" in doc["error"]
    records = _lls_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].exc_info is None
    assert server.licensing.reads.live_sessions() == []


async def test_deep_array_body_gives_400_not_500(server: Server) -> None:
    resp = await server.client.post(
        "/licensing/activate", data=b"[" * 15000, headers={"Content-Type": "application/json"}
    )

    assert resp.status == 400
    assert (await resp.json())["code"] == "INVALID_JSON"


async def test_brackets_inside_strings_do_not_count_as_depth(server: Server) -> None:
    status, doc = await server.call(
        "activate", licenseToken="LIC-ONE", productCodes=[PRODUCT], authContext="[" * 200
    )

    assert status == 200
    assert doc["authStatus"] == "Success"


async def test_pool_with_jwe_header_of_100000_brackets_is_refused_bad_envelope(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    poison = ".".join([b64(b"[" * 100_000), "AAAA", "AAAA", "AAAA", "AAAA"])

    resp = await server.client.post("/admin/v1/pool", data=poison, headers=server.admin_headers)

    assert resp.status == 422
    doc = await resp.json()
    assert doc["code"] == "BAD_ENVELOPE"
    assert all(r.exc_info is None for r in _lls_records(caplog))


def _deep_inner_header_token(recipient: KeyPair) -> str:
    from joserfc import jwe

    header = b"{" + b'"a":[' * 60 + b"1" + b"]" * 60 + b"}"  # within joserfc's 512 bytes
    inner = f"{b64(header)}.{b64(b'{}')}.{b64(b'sig')}"
    return jwe.encrypt_compact(
        {"alg": "ECDH-ES", "enc": "A256GCM"},
        inner,
        recipient.public().encrypt,
        algorithms=["ECDH-ES", "A256GCM"],
    )


def test_sealed_file_with_deep_inner_jws_header_is_refused_bad_envelope() -> None:
    recipient = KeyPair.generate()
    token = _deep_inner_header_token(recipient)

    with pytest.raises(SealedFileError) as caught:
        open_sealed(token, typ=TYP_POOL, recipient=recipient, trusted=[])

    assert caught.value.code == "BAD_ENVELOPE"
    assert "deeper than 32 levels" in caught.value.message


def test_verified_payload_nested_100000_deep_is_refused_bad_payload() -> None:
    with pytest.raises(SealedFileError) as caught:
        decode_payload(b'{"extra":' + b"[" * 100_000 + b"]" * 100_000 + b"}", PoolPayload)

    assert caught.value.code == "BAD_PAYLOAD"


async def test_offline_request_with_deep_payload_is_422_not_500(server: Server) -> None:
    device = KeyPair.generate()
    payload = b'{"deviceKeys":' + b'{"k":' * 5000 + b"1" + b"}" * 5001
    token = seal(
        payload, typ=TYP_OFFLINE_REQUEST, signer=device, recipient=server.instance.keys.public()
    )

    resp = await server.client.post(
        "/admin/v1/offline/activate", json={"token": token}, headers=server.admin_headers
    )

    assert resp.status == 422
    assert (await resp.json())["code"] == "BAD_PAYLOAD"


@pytest.mark.parametrize(
    "path", ["/admin/v1/offline/" + a for a in ("activate", "refresh", "deactivate")]
)
async def test_admin_json_body_nested_deep_gives_400_problem(server: Server, path: str) -> None:
    resp = await server.client.post(
        path,
        data=b'{"token":' + b"[" * 10_000,
        headers={**server.admin_headers, "Content-Type": "application/json"},
    )

    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["code"] == "INVALID_JSON"


async def test_dissociate_body_nested_deep_gives_400_problem(server: Server) -> None:
    resp = await server.client.post(
        "/admin/v1/licenses/LIC-ONE/dissociate",
        data=b"[" * 10_000,
        headers={**server.admin_headers, "Content-Type": "application/json"},
    )

    assert resp.status == 400
    assert (await resp.json())["code"] == "INVALID_JSON"


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(doc=_JSON, limit=st.integers(min_value=0, max_value=6))
def test_too_deep_agrees_with_the_real_depth_of_any_json(doc: Any, limit: int) -> None:
    text = json.dumps(doc)

    assert too_deep(text.encode(), limit) == (_depth(doc) > limit)
