"""One log line per refusal, with its reason; the license only by its label (id or h:<hmac>)."""

from __future__ import annotations

import logging

import pytest

from lls.http.keys import LABELS
from lls.ops.logs import JsonFormatter, LogfmtFormatter, TextFormatter
from tests.conftest import Server, ServerFactory
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
    label = server.client.app[LABELS].of_token(LIC)
    assert first["license"] == label
    assert (first["endpoint"], first["authContext"]) == ("/licensing/activate", "host-b")
    for record in refusals:
        for formatter in (JsonFormatter(), LogfmtFormatter(), TextFormatter()):
            line = formatter.format(record)
            assert label in line
            assert LIC not in line


async def test_a_successful_instance_lookup_is_not_logged_as_refused(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lls.refusals")
    resp = await server.client.get("/licensing/instance")
    assert resp.status == 200
    assert [r for r in caplog.records if r.name == "lls.refusals"] == []


async def test_a_refusal_is_logged_whatever_the_order_of_the_answer_fields(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import msgspec

    from lls.http import client_api

    server = await make_server([grant(LIC, seats=1)])
    await server.activate(LIC, "host-a")
    # Answers encoded with another field first (as the vendor's API orders them).
    monkeypatch.setattr(
        client_api,
        "encode",
        lambda v: msgspec.json.encode({"isTrial": False, **msgspec.to_builtins(v)}),
    )
    caplog.set_level(logging.INFO, logger="lls.refusals")
    await server.call("activate", licenseToken=LIC, productCodes=[PRODUCT], authContext="host-b")
    await server.activate(LIC, "host-a")
    refusals = [r for r in caplog.records if r.name == "lls.refusals"]
    assert [r.fields["reason"] for r in refusals] == ["SESSION_LIMIT_REACHED"]  # type: ignore[attr-defined]
