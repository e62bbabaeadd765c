"""/metrics against a real server: figures follow sessions, labels never carry a token."""

from __future__ import annotations

import asyncio
import gzip
import threading
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lls.http.keys import LABELS
from lls.http.license_series import CHUNK, LicenseSeries
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

FEATURES = [
    {"code": "EXPORT_PDF", "type": "floating", "count": 3},
    {"code": "API_CALLS", "type": "consumption", "count": 5},
]
LIC = "TOKEN-SECRET-4f1d9a"  # distinctive, so a leak is visible in the text
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(server: Server) -> tuple[str, Samples]:
    resp = await server.client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def label(server: Server, token: str) -> str:
    return server.client.app[LABELS].of_token(token)


def lic(name: str, **more: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"license": name, **more}.items()))


def denials(m: Samples, endpoint: str, reason: str, license: str | None = None) -> float:
    labels = {"endpoint": f"/licensing/{endpoint}", "reason": reason}
    if license is not None:
        labels["license"] = license
    return m.get(("lls_denials_total", tuple(sorted(labels.items()))), 0)


async def test_seat_metrics_follow_sessions_as_they_start_and_end(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant(LIC, seats=2, id="lic-a")])
    await server.activate(LIC, "host-a")
    _, m = await scrape(server)
    assert m[("lls_license_seats", lic("lic-a"))] == 2
    assert m[("lls_license_seats_used", lic("lic-a"))] == 1
    assert (m[("lls_live_sessions", ())], m[("lls_seats", ())], m[("lls_seats_free", ())]) == (
        1,
        2,
        1,
    )
    await server.call("deactivate", licenseToken=LIC, authContext="host-a")
    _, m = await scrape(server)
    assert m[("lls_license_seats_used", lic("lic-a"))] == 0
    assert (m[("lls_live_sessions", ())], m[("lls_seats_free", ())]) == (0, 2)


async def test_metrics_name_licenses_by_label_never_by_token(make_server: ServerFactory) -> None:
    server = await make_server([grant(LIC, seats=2)])
    await server.activate(LIC, "host-a")
    text, _ = await scrape(server)
    assert label(server, LIC) in text
    assert LIC not in text


async def test_feature_units_used_follow_checkout_and_return(make_server: ServerFactory) -> None:
    server = await make_server([grant(LIC, seats=2, features=FEATURES, id="lic-a")])
    await server.activate(LIC, "host-a")
    body = {"licenseToken": LIC, "authContext": "host-a", "featureCode": "EXPORT_PDF"}
    await server.call("features/checkout", **body, quantity=2)
    await server.call("features/checkout", **{**body, "featureCode": "API_CALLS"}, quantity=1)
    _, m = await scrape(server)
    floating = lic("lic-a", feature="EXPORT_PDF", type="floating")
    assert (m[("lls_feature_units", floating)], m[("lls_feature_units_used", floating)]) == (3, 2)
    assert m[("lls_feature_units_used", lic("lic-a", feature="API_CALLS", type="consumption"))] == 1
    await server.call("features/return", **body, quantity=2)
    _, m = await scrape(server)
    assert m[("lls_feature_units_used", floating)] == 0


async def test_denials_are_counted_by_endpoint_reason_and_license(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant(LIC, seats=1, id="lic-a")])
    await server.activate(LIC, "host-a")
    body = {"licenseToken": LIC, "productCodes": [PRODUCT], "authContext": "host-b"}
    await server.call("activate", **body)
    await server.call("activate", **body)
    await server.call("extend", **body)
    await server.call("validate", licenseToken="NO-SUCH-TOKEN")
    _, m = await scrape(server)
    assert denials(m, "activate", "SESSION_LIMIT_REACHED", "lic-a") == 2
    assert denials(m, "extend", "NO_ACTIVE_SESSION", "lic-a") == 1
    assert denials(m, "validate", "LICENSE_NOT_FOUND") == 1  # no license label: bounded
    assert denials(m, "activate", "NO_ACTIVE_SESSION", "lic-a") == 0


async def test_a_successful_instance_lookup_is_not_a_denial(server: Server) -> None:
    resp = await server.client.get("/licensing/instance")
    assert resp.status == 200
    _, m = await scrape(server)
    assert [k for k in m if k[0] == "lls_denials_total"] == []


async def test_only_licenses_of_the_pool_have_series(make_server: ServerFactory) -> None:
    server = await make_server([grant(LIC, seats=1, id="lic-a"), grant("OTHER", id="lic-b")])
    await server.activate(LIC, "host-a")
    body = {"licenseToken": LIC, "productCodes": [PRODUCT], "authContext": "host-b"}
    await server.call("activate", **body)
    await scrape(server)
    await server.import_pool([grant("OTHER", id="lic-b")])
    _, m = await scrape(server)
    named = {dict(labels).get("license") for _, labels in m} - {None}
    assert named == {"lic-b"}


async def test_per_license_off_keeps_only_aggregates_under_the_same_names(
    make_server: ServerFactory,
) -> None:
    server = await make_server(
        [grant(LIC, seats=1, features=FEATURES), grant("OTHER", seats=2, features=FEATURES)],
        metrics_per_license=False,
    )
    await server.activate(LIC, "host-a")
    await server.call("activate", licenseToken=LIC, productCodes=[PRODUCT], authContext="host-b")
    body = {"licenseToken": LIC, "authContext": "host-a", "featureCode": "EXPORT_PDF"}
    await server.call("features/checkout", **body, quantity=2)
    _, m = await scrape(server)
    assert [k for k in m if ("license", label(server, LIC)) in k[1]] == []
    assert (m[("lls_seats", ())], m[("lls_seats_used", ())]) == (3, 1)
    pdf = (("feature", "EXPORT_PDF"), ("type", "floating"))
    assert (m[("lls_feature_units", pdf)], m[("lls_feature_units_used", pdf)]) == (6, 2)
    assert denials(m, "activate", "SESSION_LIMIT_REACHED") == 1


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
    assert 364.9 * 86_400 < m[("lls_pool_time_to_expiry_seconds", ())] <= 365 * 86_400
    server.clock.advance(86_400)
    _, m = await scrape(server)
    assert m[("lls_pool_age_seconds", ())] == 86_400
    assert m[("lls_clock_tampered", ())] == 0
    assert m[("lls_clock_floor_timestamp_seconds", ())] >= now


async def test_usage_export_time_appears_and_survives_a_restart(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant(LIC)])
    _, m = await scrape(server)
    assert m[("lls_usage_export_timestamp_seconds", ())] == 0
    await server.licensing.export_usage()
    _, m = await scrape(server)
    assert m[("lls_usage_export_timestamp_seconds", ())] == server.clock.now()
    again = await make_server()
    _, m = await scrape(again)
    assert m[("lls_usage_export_timestamp_seconds", ())] == server.clock.now()


async def test_seats_of_many_chunks_are_counted_where_they_change(
    make_server: ServerFactory,
) -> None:
    tokens = [f"MANY-{i:05d}" for i in range(CHUNK * 2 + 10)]
    small = [{"token": t, "productCodes": [PRODUCT], "id": f"m{i}"} for i, t in enumerate(tokens)]
    server = await make_server(small)
    await scrape(server)  # every chunk rendered once
    held = [0, CHUNK + 5, 2 * CHUNK + 9]
    for i in held:
        await server.activate(tokens[i], "host-a")
    await server.call("deactivate", licenseToken=tokens[0], authContext="host-a")
    _, m = await scrape(server)
    used = {i for i in range(len(tokens)) if m[("lls_license_seats_used", lic(f"m{i}"))]}
    assert used == {CHUNK + 5, 2 * CHUNK + 9}
    assert (m[("lls_seats_used", ())], m[("lls_licenses", ())]) == (2, len(tokens))


async def test_an_offline_seat_leaves_the_figures_when_its_lease_ends(
    make_server: ServerFactory,
) -> None:
    from lls.sealed import KeyPair
    from tests.http.test_offline import request_token

    server = await make_server([grant(LIC, seats=2, id="lic-a", offlineLeaseSeconds=3600)])
    request = request_token(server, KeyPair.generate(), license_token=LIC)
    resp = await server.client.post(
        "/admin/v1/offline/activate", json={"token": request}, headers=server.admin_headers
    )
    assert resp.status == 200, await resp.text()
    _, m = await scrape(server)
    assert (m[("lls_license_seats_used", lic("lic-a"))], m[("lls_offline_activations", ())]) == (
        1,
        1,
    )
    server.clock.advance(3601)  # no write happens when a lease ends: only time passes
    _, m = await scrape(server)
    assert (m[("lls_license_seats_used", lic("lic-a"))], m[("lls_offline_activations", ())]) == (
        0,
        0,
    )


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


async def test_healthz_and_licensing_answer_while_a_scrape_is_being_rendered(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    released_by_the_test: list[bool] = []
    original = LicenseSeries.update

    def slow_update(self: LicenseSeries, *args: Any, **kwargs: Any) -> Any:
        # A scrape of a huge pool, held until the test has had its answers. Were it
        # rendered on the event loop, those answers could not come: the wait would
        # run out instead, and the test would see it.
        released_by_the_test.append(release.wait(timeout=8))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LicenseSeries, "update", slow_update)
    scraping = asyncio.ensure_future(server.client.get("/metrics"))
    await asyncio.sleep(0.05)
    try:
        health = await server.client.get("/healthz")
        status, answer = await server.call("validate", licenseToken="LIC-ONE")
    finally:
        release.set()
    assert (await scraping).status == 200
    assert released_by_the_test == [True]
    assert (health.status, status, answer["authStatus"]) == (200, 200, "Success")


async def test_a_single_node_reports_that_it_leads(server: Server) -> None:
    """lls_node_leading: 1 on a single node; a pair's standby says 0 (tests/e2e/test_ha.py)."""
    _, m = await scrape(server)
    assert m[("lls_node_leading", ())] == 1


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("GZIP ; q=1", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("gzip;q=oops", False),
        ("identity", False),
        ("", False),
    ],
)
async def test_metrics_are_gzipped_when_the_scraper_accepts_it(
    server: Server, accept: str, gzipped: bool
) -> None:
    """Prometheus asks for gzip: 27 MB at 100,000 licenses become a tenth on the wire."""
    resp = await server.client.get(
        "/metrics", headers={"Accept-Encoding": accept}, auto_decompress=False
    )
    raw = await resp.read()

    assert resp.status == 200 and resp.headers["Vary"] == "Accept-Encoding"
    assert (resp.headers.get("Content-Encoding") == "gzip") is gzipped
    text = (gzip.decompress(raw) if gzipped else raw).decode()
    assert "\nlls_node_leading 1\n" in text
    assert len(list(text_string_to_metric_families(text))) > 10
