"""/metrics against a real server: figures follow sessions, labels never carry a token."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from lls.ops.logs import redact_token
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

FEATURES = [
    {"code": "EXPORT_PDF", "type": "floating", "count": 3},
    {"code": "API_CALLS", "type": "consumption", "count": 5},
]
LIC = "TOKEN-SECRET-4f1d9a"  # distinctive, so a leak is visible in the text


async def scrape(
    server: Server,
) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    resp = await server.client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def lic(token: str, **more: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"license": redact_token(token), **more}.items()))


async def activate(server: Server, ctx: str, token: str = LIC) -> Any:
    return await server.activate(token, ctx)


async def test_seat_metrics_follow_sessions_as_they_start_and_end(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant(LIC, seats=2)])
    await activate(server, "host-a")
    _, m = await scrape(server)
    assert m[("lls_license_seats", lic(LIC))] == 2
    assert m[("lls_license_seats_used", lic(LIC))] == 1
    assert m[("lls_license_seats_free", lic(LIC))] == 1
    assert m[("lls_live_sessions", ())] == 1
    await server.call("deactivate", licenseToken=LIC, authContext="host-a")
    _, m = await scrape(server)
    assert m[("lls_license_seats_used", lic(LIC))] == 0
    assert m[("lls_license_seats_free", lic(LIC))] == 2
    assert (m[("lls_live_sessions", ())], m[("lls_seats_free", ())]) == (0, 2)


async def test_metrics_name_licenses_by_hash_never_by_token(make_server: ServerFactory) -> None:
    server = await make_server([grant(LIC, seats=2)])
    await activate(server, "host-a")
    text, _ = await scrape(server)
    assert redact_token(LIC) in text
    assert LIC not in text


async def test_feature_units_used_follow_checkout_and_return(make_server: ServerFactory) -> None:
    server = await make_server([grant(LIC, seats=2, features=FEATURES)])
    await activate(server, "host-a")
    body = {"licenseToken": LIC, "authContext": "host-a", "featureCode": "EXPORT_PDF"}
    await server.call("features/checkout", **body, quantity=2)
    await server.call("features/checkout", **{**body, "featureCode": "API_CALLS"}, quantity=1)
    _, m = await scrape(server)
    floating = lic(LIC, feature="EXPORT_PDF", type="floating")
    assert (m[("lls_feature_units", floating)], m[("lls_feature_units_used", floating)]) == (3, 2)
    assert m[("lls_feature_units_used", lic(LIC, feature="API_CALLS", type="consumption"))] == 1
    await server.call("features/return", **body, quantity=2)
    _, m = await scrape(server)
    assert m[("lls_feature_units_used", floating)] == 0


async def test_denials_are_counted_by_endpoint_and_reason(make_server: ServerFactory) -> None:
    server = await make_server([grant(LIC, seats=1)])
    await activate(server, "host-a")
    body = {"licenseToken": LIC, "productCodes": [PRODUCT], "authContext": "host-b"}
    await server.call("activate", **body)
    await server.call("activate", **body)
    await server.call("extend", **body)
    await server.call("validate", licenseToken="NO-SUCH-TOKEN")
    _, m = await scrape(server)

    def denials(endpoint: str, reason: str) -> float:
        labels = (("endpoint", f"/licensing/{endpoint}"), ("reason", reason))
        return m.get(("lls_denials_total", labels), 0)

    assert denials("activate", "SESSION_LIMIT_REACHED") == 2
    assert denials("extend", "NO_ACTIVE_SESSION") == 1
    assert denials("validate", "LICENSE_NOT_FOUND") == 1
    assert denials("activate", "NO_ACTIVE_SESSION") == 0


async def test_latency_histogram_and_status_counts_per_endpoint(server: Server) -> None:
    for i in range(3):
        await server.activate("LIC-THREE", f"host-{i}")
    await server.client.post("/licensing/activate", data=b"{", headers={"Content-Type": "x"})
    _, m = await scrape(server)
    route = (("endpoint", "/licensing/activate"),)
    assert m[("lls_http_request_duration_seconds_count", route)] == 4
    assert m[("lls_http_request_duration_seconds_bucket", (*route, ("le", "+Inf")))] == 4
    assert m[("lls_http_request_duration_seconds_sum", route)] > 0
    assert m[("lls_http_requests_total", (*route, ("status", "200")))] == 3
    assert m[("lls_http_requests_total", (*route, ("status", "415")))] == 1


async def test_pool_and_clock_gauges_describe_the_imported_pool(server: Server) -> None:
    now = server.clock.now()
    _, m = await scrape(server)
    assert m[("lls_pool_seq", ())] == 1
    assert m[("lls_pool_issued_timestamp_seconds", ())] == int(now)
    assert 364.9 < m[("lls_pool_days_to_expiry", ())] <= 365
    server.clock.advance(86_400)
    _, m = await scrape(server)
    assert m[("lls_pool_age_seconds", ())] == 86_400
    assert m[("lls_clock_tampered", ())] == 0
    assert m[("lls_clock_floor_timestamp_seconds", ())] >= now


async def test_usage_export_time_appears_once_a_usage_file_is_exported(server: Server) -> None:
    _, m = await scrape(server)
    assert m[("lls_usage_export_timestamp_seconds", ())] == 0
    await server.licensing.export_usage()
    _, m = await scrape(server)
    assert m[("lls_usage_export_timestamp_seconds", ())] == server.clock.now()


async def test_readyz_fails_when_the_pool_expires_or_the_clock_is_turned_back(
    server: Server,
) -> None:
    assert (await server.client.get("/readyz")).status == 200
    server.clock.advance(-3600)  # an hour below the floor the import raised
    await server.call("validate", licenseToken="LIC-ONE")  # a call notices the clock
    resp = await server.client.get("/readyz")
    assert resp.status == 503
    assert "the clock is below the trusted floor" in (await resp.json())["problems"]
    server.clock.advance(3600 + 366 * 86_400)
    await server.call("validate", licenseToken="LIC-ONE")  # the clock is fine again
    resp = await server.client.get("/readyz")
    assert (resp.status, (await resp.json())["problems"]) == (503, ["the pool has expired"])
