"""One log line per refusal, with its reason; the license only as sha256:<12 hex>."""

from __future__ import annotations

import logging

import pytest

from lls.ops.logs import JsonFormatter, LogfmtFormatter, TextFormatter, redact_token
from tests.conftest import ServerFactory
from tests.pools import PRODUCT, grant

LIC = "TOKEN-SECRET-8c2e71"


async def test_each_refusal_logs_one_line_with_reason_and_redacted_license(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server([grant(LIC, seats=1)])
    await server.activate(LIC, "host-a")
    caplog.set_level(logging.INFO, logger="lls.refusals")
    body = {"licenseToken": LIC, "productCodes": [PRODUCT], "authContext": "host-b"}
    await server.call("activate", **body)
    await server.call("extend", **body)
    await server.call("validate", licenseToken=LIC, productCodes=["OTHER"])
    await server.activate(LIC, "host-a")  # a success logs nothing
    refusals = [r for r in caplog.records if r.name == "lls.refusals"]
    assert [r.fields["reason"] for r in refusals] == [  # type: ignore[attr-defined]
        "SESSION_LIMIT_REACHED",
        "NO_ACTIVE_SESSION",
        "PRODUCT_MISMATCH",
    ]
    first = refusals[0].fields  # type: ignore[attr-defined]
    assert first["license"] == redact_token(LIC)
    assert (first["endpoint"], first["authContext"]) == ("/licensing/activate", "host-b")
    for record in refusals:
        for formatter in (JsonFormatter(), LogfmtFormatter(), TextFormatter()):
            line = formatter.format(record)
            assert redact_token(LIC) in line
            assert LIC not in line
