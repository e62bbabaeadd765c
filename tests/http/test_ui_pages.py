"""What the dashboard's pages show and what its forms do, over HTTP on a real server."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from lls.client.offline import OfflineDevice
from lls.sealed import read_sealed_text
from lls.sealed.payloads import TYP_USAGE
from tests.conftest import Server, ServerFactory
from tests.http.ui_kit import as_admin, upload
from tests.pools import PRODUCT, grant, make_pool

FEATURES = [
    {"code": "PDF", "type": "floating", "count": 4},
    {"code": "CALLS", "type": "consumption", "count": 100},
]


def _tokens(html: str) -> list[str]:
    return re.findall(r'href="/ui/licenses/([^"/]+)"><code>', html)


async def _page(server: Server, path: str) -> str:
    answer = await server.client.get(path)
    assert answer.status == 200, await answer.text()
    return await answer.text()


async def _many(make_server: ServerFactory, count: int) -> Server:
    licenses = [
        grant(
            f"LIC-{i:03d}",
            seats=2,
            companyName="Globex" if i % 4 == 0 else "Acme Trading Corp",
            type="node-locked" if i % 10 == 0 else "floating",
        )
        for i in range(count)
    ]
    server = await make_server(licenses)
    await as_admin(server)
    return server


async def test_licenses_search_finds_by_token_prefix_company_or_product(
    make_server: ServerFactory,
) -> None:
    server = await _many(make_server, 30)

    by_prefix = _tokens(await _page(server, "/ui/licenses?q=lic-02"))
    by_company = _tokens(await _page(server, "/ui/licenses?q=globex&limit=100"))
    by_product = _tokens(await _page(server, f"/ui/licenses?q={PRODUCT.lower()}&limit=100"))

    assert by_prefix == [f"LIC-02{i}" for i in range(10)]
    assert by_company == [f"LIC-{i:03d}" for i in range(0, 30, 4)]
    assert len(by_product) == 30


async def test_licenses_filter_by_type_and_status(make_server: ServerFactory) -> None:
    server = await _many(make_server, 30)
    server.licensing.state.licenses["LIC-010"].locked_at = server.clock.now()

    html = await _page(server, "/ui/licenses?type=node-locked&status=locked")

    assert _tokens(html) == ["LIC-010"] and "1–1 of 1 licenses" in html


async def test_licenses_next_link_continues_where_the_page_ended(
    make_server: ServerFactory,
) -> None:
    server = await _many(make_server, 60)
    first = await _page(server, "/ui/licenses?limit=25&sort=company")
    link = re.search(r'rel="next" href="([^"]+)"', first)
    assert link is not None

    second = await _page(server, "/ui/licenses" + link.group(1).replace("&amp;", "&"))

    assert len(set(_tokens(first)) | set(_tokens(second))) == 50
    assert "26–50 of 60 licenses" in second


async def test_license_page_shows_features_held_and_consumed_and_its_timeline(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("FEAT", seats=3, features=FEATURES)])
    await server.activate("FEAT", "pc-1")
    for code, quantity in (("PDF", 3), ("CALLS", 40)):
        status, body = await server.call(
            "features/checkout",
            licenseToken="FEAT",
            authContext="pc-1",
            featureCode=code,
            quantity=quantity,
        )
        assert status == 200 and body["authStatus"] == "Success", body
    await as_admin(server)

    html = await _page(server, "/ui/licenses/FEAT")

    assert 'aria-label="3 of 4 held (75%)"' in html
    assert 'aria-label="40 of 100 used (40%)"' in html
    assert "1 of 3 in use" in html and "pc-1" in html
    assert "feature.checkout" in html and "session.started" in html


async def test_license_page_of_an_unknown_token_is_a_404_page(server: Server) -> None:
    await as_admin(server)

    answer = await server.client.get("/ui/licenses/NO%2FSUCH")

    assert answer.status == 404 and "no license with this token" in await answer.text()


async def test_end_session_frees_the_seat_at_once(make_server: ServerFactory) -> None:
    server = await make_server([grant("ONE", seats=1)])
    await server.activate("ONE", "pc-1")
    csrf = await as_admin(server)
    (session,) = server.licensing.reads.live_sessions()

    answer = await server.client.post(
        f"/ui/sessions/{session.id}/end", data={"csrf": csrf, "back": "/ui/sessions?q=pc"}
    )

    assert answer.status == 200 and "Ended the session of pc-1 on ONE" in await answer.text()
    assert str(answer.url).endswith("/ui/sessions?q=pc")
    assert (await server.activate("ONE", "pc-2"))["authStatus"] == "Success"


async def test_pool_upload_imports_a_pool_and_says_what_changed(server: Server) -> None:
    csrf = await as_admin(server)
    raw = make_pool(server.vendor, server.instance, [grant("LIC-NEW")], seq=2)

    answer = await upload(server.client, "/ui/pool", csrf, "pool_file", raw.encode())
    page = await server.client.get(answer.headers["Location"])

    assert answer.status == 303 and server.licensing.state.pool is not None
    assert server.licensing.state.pool.seq == 2
    assert "Imported pool seq 2: 1 licenses (1 added" in await page.text()


async def test_tampered_pool_upload_shows_the_reason_and_changes_nothing(server: Server) -> None:
    csrf = await as_admin(server)
    raw = make_pool(server.vendor, server.instance, [grant("LIC-NEW")], seq=2)
    cut = len(raw) // 2
    tampered = raw[:cut] + ("A" if raw[cut] != "A" else "B") + raw[cut + 1 :]

    answer = await upload(server.client, "/ui/pool", csrf, "pool_file", tampered.encode())

    html = await answer.text()
    assert answer.status == 422 and "Refused — nothing was changed" in html
    assert re.search(r"Reason code <code>[A-Z_]+</code>", html)
    assert server.licensing.state.pool is not None and server.licensing.state.pool.seq == 1


async def test_pool_upload_without_a_file_says_so(server: Server) -> None:
    csrf = await as_admin(server)

    answer = await upload(server.client, "/ui/pool", csrf, "pool_file", b"")

    assert answer.status == 400 and "Choose a pool file first" in await answer.text()


async def test_usage_download_is_a_usage_file_for_the_vendor(server: Server) -> None:
    csrf = await as_admin(server)

    answer = await server.client.post("/ui/usage", data={"csrf": csrf})

    text = await answer.text()
    assert answer.headers["Content-Disposition"] == 'attachment; filename="usage-1.lls"'
    assert f"# kind: {TYP_USAGE}" in text and read_sealed_text(text).count(".") == 4
    assert server.licensing.state.usage_seq == 1


async def test_offline_activation_through_the_page_gives_the_device_its_lease(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    server = await make_server([grant("OFF", seats=1)])
    csrf = await as_admin(server)
    device = OfflineDevice(tmp_path / "device.jwks")
    device.pin_server(
        {
            "instanceId": server.instance.instance_id,
            "keys": server.instance.keys.public().to_jwks(),
        }
    )
    request = device.offline_request("OFF", [PRODUCT], "field-unit")

    answer = await upload(
        server.client, "/ui/offline/activate", csrf, "request_file", request.encode()
    )
    device.apply_response(read_sealed_text(await answer.read()))
    listed = await _page(server, "/ui/offline")
    freed = await upload(
        server.client,
        "/ui/offline/deactivate",
        csrf,
        "deactivation_file",
        device.deactivation_token().encode(),
    )

    assert answer.headers["Content-Disposition"].startswith('attachment; filename="offline-')
    assert "field-unit" in listed and freed.status == 303
    assert (await server.activate("OFF", "desk"))["authStatus"] == "Success"


async def test_offline_request_that_is_not_a_token_is_refused_in_words(server: Server) -> None:
    csrf = await as_admin(server)

    answer = await server.client.post(
        "/ui/offline/activate", data={"csrf": csrf, "request_text": "hello"}
    )

    assert answer.status == 422 and "Refused — nothing was changed" in await answer.text()


async def test_unlock_and_free_binding_from_the_license_page(make_server: ServerFactory) -> None:
    server = await make_server([grant("NODE", type="node-locked")])
    await server.activate("NODE", "machine-1")
    server.licensing.state.licenses["NODE"].locked_at = server.clock.now()
    csrf = await as_admin(server)
    before = await _page(server, "/ui/licenses/NODE")

    freed = await server.client.post("/ui/licenses/NODE/dissociate", data={"csrf": csrf})
    unlocked = await server.client.post("/ui/licenses/NODE/unlock", data={"csrf": csrf})

    assert "Free binding" in before and "Unlock" in before
    assert "Freed the binding to machine-1" in await freed.text()
    assert "Unlocked" in await unlocked.text()
    state = server.licensing.state.licenses["NODE"]
    assert state.bound_context is None and state.locked_at is None


async def test_audit_filter_by_license_and_older_pages(make_server: ServerFactory) -> None:
    server = await make_server([grant("A", seats=200), grant("B", seats=200)])
    for n in range(60):
        await server.activate("A" if n % 3 else "B", f"pc-{n}")
    await as_admin(server)

    first = await _page(server, "/ui/audit?license=B")
    older = re.search(r'rel="next" href="([^"]+)"', await _page(server, "/ui/audit"))

    assert first.count(">session.started</span>") == 20 and "pc-3<" in first
    assert older is not None and "before=" in unquote(older.group(1))


async def test_overview_shows_a_clock_turned_back_loudly(server: Server) -> None:
    await server.activate("LIC-ONE", "pc-1")
    server.clock.advance(-3600)
    await server.activate("LIC-THREE", "pc-2")  # the refusal that notices the rollback
    await as_admin(server)

    html = await _page(server, "/ui/overview/live")

    assert "CLOCK_TAMPERED" in html and "banner-danger" in html


async def test_overview_warns_when_the_pool_expires_within_30_days(server: Server) -> None:
    status, _ = await server.import_pool(
        [grant("LIC-ONE")], iat=server.clock.now(), exp=server.clock.now() + 10 * 86_400
    )
    assert status == 200
    await as_admin(server)

    html = await _page(server, "/ui/")

    assert "The pool expires in 9 days" in html or "The pool expires in 10 days" in html
