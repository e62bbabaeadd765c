"""The dashboard's history: charts on the license page, its CSV, denied today, import and
usage-file lists — over HTTP on a real server."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Server, ServerFactory
from tests.http.ui_kit import as_admin
from tests.pools import PRODUCT, grant

FEATURES = [{"code": "PDF", "type": "floating", "count": 4}]


@pytest.fixture
async def site(make_server: ServerFactory) -> Server:
    server = await make_server([grant("LIC-H", seats=2, features=FEATURES), grant("LIC-O")])
    await as_admin(server)
    return server


async def _refuse(server: Server, token: str, ctx: str) -> None:
    status, body = await server.call(
        "activate", licenseToken=token, productCodes=[PRODUCT], authContext=ctx
    )
    assert (status, body["reason"]) == (200, "SESSION_LIMIT_REACHED")


async def test_license_page_draws_sessions_units_and_denials_for_each_range(site: Server) -> None:
    await site.activate("LIC-H", "a")
    await site.activate("LIC-H", "b")
    await _refuse(site, "LIC-H", "c")
    status, _ = await site.call(
        "features/checkout", licenseToken="LIC-H", authContext="a", featureCode="PDF", quantity=3
    )
    assert status == 200
    pages = {}
    for key in ("24h", "7d", "90d"):
        answer = await site.client.get(f"/ui/licenses/LIC-H?range={key}")
        assert answer.status == 200
        pages[key] = await answer.text()
    html = pages["90d"]
    assert 'aria-label="Peak concurrent sessions per hour, last 90 days: 2160 points' in html
    assert "highest 2" in html and "Peak units of PDF in use per hour" in html
    assert re.search(r"<code>SESSION_LIMIT_REACHED</code></td><td class=\"num\">1<", html)
    assert "last 24 hours: 24 points" in pages["24h"] and "168 points" in pages["7d"]


async def test_history_csv_downloads_the_range_and_needs_a_session(site: Server) -> None:
    await site.activate("LIC-H", "a")
    answer = await site.client.get("/ui/licenses/LIC-H/history.csv?range=7d")
    lines = (await answer.text()).splitlines()
    assert answer.headers["Content-Disposition"] == 'attachment; filename="history-7d.csv"'
    assert lines[0].startswith("at,peak_sessions,sessions_started") and len(lines) == 169
    site.client.session.cookie_jar.clear()
    bare = await site.client.get("/ui/licenses/LIC-H/history.csv", allow_redirects=False)
    assert bare.status == 303 and "text/csv" not in bare.headers.get("Content-Type", "")


async def test_a_bad_range_is_a_400_page(site: Server) -> None:
    answer = await site.client.get("/ui/licenses/LIC-H?range=1y")
    assert answer.status == 400 and "range must be 24h, 7d or 90d" in await answer.text()


async def test_overview_counts_the_denials_of_today(site: Server) -> None:
    await site.activate("LIC-O", "a")
    await _refuse(site, "LIC-O", "b")
    await _refuse(site, "LIC-O", "c")
    html = await (await site.client.get("/ui/")).text()
    assert re.search(r'<dd id="denied-today">2</dd>', html)


async def test_pool_page_lists_imports_and_usage_page_the_files_written(site: Server) -> None:
    status, _ = await site.import_pool([grant("LIC-H", seats=3)])
    assert status == 200
    for _ in range(2):
        assert (await site.client.get("/admin/v1/usage", headers=site.admin_headers)).status == 200
    pool = await (await site.client.get("/ui/pool")).text()
    usage = await (await site.client.get("/ui/usage")).text()
    seqs = re.findall(r'<td class="num">(\d+)', pool.split('id="pool-imports"')[1])
    assert seqs[:2] == ["2", "1"] and "in force" in pool
    assert re.findall(r'<td class="num">#(\d+)</td>', usage) == ["2", "1"]
    assert usage.count("badge-waiting") == 2
