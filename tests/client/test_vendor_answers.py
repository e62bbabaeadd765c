"""The SDK reads the answers in the vendor's field order, the contact object, and strict mode."""

from __future__ import annotations

import msgspec
import pytest

from lls.client import AuthStatus, LicenseClient, LicenseRefused
from lls.client.models import ValidationResult
from tests.client.conftest import base_url
from tests.conftest import DEFAULT_LICENSES, ServerFactory
from tests.pools import PRODUCT, grant

VENDOR_EXAMPLE = (  # the online API's own success example, byte for byte in its order
    b'{"isTrial":false,"contact":{"firstName":"John","lastName":"Doe",'
    b'"email":"john@example.com"},"productCode":"ACME_PRO","authStatus":"Success",'
    b'"companyName":"Acme Trading Corp"}'
)


def test_result_decodes_the_vendors_own_example() -> None:
    result = msgspec.json.decode(VENDOR_EXAMPLE, type=ValidationResult)
    assert (result.auth_status, result.product_code) == (AuthStatus.SUCCESS, "ACME_PRO")
    assert result.contact is not None and result.contact.last_name == "Doe"
    assert (result.reason, result.session_expires_at, result.features) == (None, None, ())


async def test_sdk_reads_a_contact_object_of_nulls(make_server: ServerFactory) -> None:
    server = await make_server([grant("BARE", contact=None)])
    async with LicenseClient(base_url(server), timeout=5) as client:
        result = await client.validate("BARE", PRODUCT, "host-a")
    assert result.ok
    assert result.contact is not None
    assert (result.contact.first_name, result.contact.email) == (None, None)


async def test_sdk_works_against_a_strict_mode_server(make_server: ServerFactory) -> None:
    server = await make_server(DEFAULT_LICENSES, vendor_fields_only=True)
    async with LicenseClient(base_url(server), timeout=5) as client:
        held = await client.activate("LIC-ONE", PRODUCT, "host-a")
        with pytest.raises(LicenseRefused) as refused:
            await client.activate("LIC-ONE", PRODUCT, "host-b")
        await client.deactivate("LIC-ONE", "host-a")
    assert (held.ok, held.session_expires_at) == (True, None)
    assert refused.value.reason == "Failed"  # strict mode sends no reason: the status stands in
