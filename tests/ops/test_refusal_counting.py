"""Refusals are counted by reason whatever the answer's field order or the strict mode."""

from __future__ import annotations

import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DEFAULT_LICENSES, Server, ServerFactory
from tests.pools import PRODUCT

BUSY = {"licenseToken": "LIC-ONE", "productCodes": [PRODUCT], "authContext": "h2"}


async def denials(server: Server) -> dict[tuple[str, str], float]:
    text = await (await server.client.get("/metrics")).text()
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "lls_denials_total":
                found[(s.labels["endpoint"], s.labels["reason"])] = s.value
    return found


@pytest.mark.parametrize("strict", [False, True])
async def test_successes_are_not_counted_as_refusals(
    make_server: ServerFactory, strict: bool
) -> None:
    server = await make_server(DEFAULT_LICENSES, vendor_fields_only=strict)
    await server.activate("LIC-ONE", "h1")
    await server.call("extend", licenseToken="LIC-ONE", productCodes=[PRODUCT], authContext="h1")
    await server.call("validate", licenseToken="LIC-TRIAL")
    assert await denials(server) == {}


@pytest.mark.parametrize("strict", [False, True])
async def test_refusals_are_counted_and_logged_by_reason(
    make_server: ServerFactory, strict: bool, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(DEFAULT_LICENSES, vendor_fields_only=strict)
    await server.activate("LIC-ONE", "h1")
    caplog.set_level(logging.INFO, logger="lls.refusals")
    await server.call("activate", **BUSY)
    await server.call("validate", licenseToken="NOPE")
    assert await denials(server) == {
        ("/licensing/activate", "SESSION_LIMIT_REACHED"): 1,
        ("/licensing/validate", "LICENSE_NOT_FOUND"): 1,
    }
    logged = [r.fields["reason"] for r in caplog.records if r.name == "lls.refusals"]  # type: ignore[attr-defined]
    assert logged == ["SESSION_LIMIT_REACHED", "LICENSE_NOT_FOUND"]


async def test_refusals_are_counted_with_their_log_line_turned_off(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(DEFAULT_LICENSES)
    await server.activate("LIC-ONE", "h1")
    caplog.set_level(logging.WARNING, logger="lls.refusals")
    await server.call("activate", **BUSY)
    assert await denials(server) == {("/licensing/activate", "SESSION_LIMIT_REACHED"): 1}
    assert [r for r in caplog.records if r.name == "lls.refusals"] == []
