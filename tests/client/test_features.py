"""Feature checkout and return through a held session (api.md §4), against a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lls.client import LicenseClient, LicenseRefused, Reason
from tests.client.conftest import base_url
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

FEATURES = [
    {"code": "EXPORT_PDF", "type": "floating", "count": 3},
    {"code": "API_CALLS", "type": "consumption", "count": 10},
    {"code": "DARK_MODE", "type": "boolean"},
]


@pytest.fixture
async def feature_server(make_server: ServerFactory) -> Server:
    return await make_server([grant("LIC-FEAT", seats=2, features=FEATURES)])


@pytest.fixture
async def feat_client(feature_server: Server) -> AsyncIterator[LicenseClient]:
    async with LicenseClient(base_url(feature_server)) as c:
        yield c


async def _available(client: LicenseClient, code: str) -> int | None:
    feature = (await client.validate("LIC-FEAT", PRODUCT)).feature(code)
    assert feature is not None
    return feature.available


async def test_feature_block_checks_out_and_returns(feat_client: LicenseClient) -> None:
    async with feat_client.session("LIC-FEAT", [PRODUCT], "host-a") as s:
        async with s.feature("EXPORT_PDF", 2) as f:
            assert f.result is not None and f.result.checked_out == 2
            assert await _available(feat_client, "EXPORT_PDF") == 1
        assert await _available(feat_client, "EXPORT_PDF") == 3


async def test_feature_exhausted_raises_refusal(feat_client: LicenseClient) -> None:
    async with feat_client.session("LIC-FEAT", [PRODUCT], "host-a") as s:
        with pytest.raises(LicenseRefused) as caught:
            async with s.feature("EXPORT_PDF", 4):
                pass
    assert caught.value.reason == Reason.FEATURE_EXHAUSTED


async def test_consumption_feature_block_exits_quietly(feat_client: LicenseClient) -> None:
    async with feat_client.session("LIC-FEAT", [PRODUCT], "host-a") as s:
        async with s.feature("API_CALLS", 3):
            pass
        with pytest.raises(LicenseRefused) as caught:
            await s.return_("API_CALLS", 1)
    assert caught.value.reason == Reason.FEATURE_NOT_RETURNABLE
    assert await _available(feat_client, "API_CALLS") == 7


async def test_feature_without_session_raises_no_active_session(
    feat_client: LicenseClient,
) -> None:
    with pytest.raises(LicenseRefused) as caught:
        await feat_client.checkout("LIC-FEAT", "host-a", "EXPORT_PDF")
    assert caught.value.reason == Reason.NO_ACTIVE_SESSION


async def test_feature_body_raising_returns_units_and_propagates(
    feat_client: LicenseClient,
) -> None:
    async with feat_client.session("LIC-FEAT", [PRODUCT], "host-a") as s:
        with pytest.raises(KeyError):
            async with s.feature("EXPORT_PDF", 1):
                raise KeyError("boom")
        assert await _available(feat_client, "EXPORT_PDF") == 3
