"""Who may see and change what on the dashboard: sign-in, roles, CSRF, headers, listeners."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lls.app.wiring import build_app
from lls.config.settings import Config
from lls.http.ui.guard import CSP
from tests.conftest import Server, ServerFactory
from tests.http.ui_kit import as_admin, hidden, sign_in, viewer_token
from tests.pools import grant
from tests.tls import self_signed

PAGES = ["/ui/", "/ui/licenses", "/ui/licenses/LIC-ONE", "/ui/sessions", "/ui/pool"]
PAGES += ["/ui/usage", "/ui/offline", "/ui/audit"]
ACTIONS = [
    "/ui/sessions/some-id/end",
    "/ui/pool",
    "/ui/usage",
    "/ui/offline/activate",
    "/ui/offline/deactivate",
    "/ui/offline/some-id/refresh",
    "/ui/licenses/LIC-ONE/dissociate",
    "/ui/licenses/LIC-ONE/unlock",
]


async def _session_ids(server: Server) -> list[str]:
    return [s.id for s in server.licensing.reads.live_sessions()]


@pytest.mark.parametrize("path", PAGES)
async def test_page_without_a_session_redirects_to_sign_in_with_no_data(
    server: Server, path: str
) -> None:
    answer = await server.client.get(path, allow_redirects=False)

    assert answer.status == 303 and answer.headers["Location"].startswith("/ui/sign-in?next=")
    assert "LIC-" not in await answer.text()


async def test_overview_figures_without_a_session_are_401_with_no_data(server: Server) -> None:
    answer = await server.client.get("/ui/overview/live")

    assert answer.status == 401 and "LIC-" not in await answer.text()


async def test_sign_in_with_the_admin_token_sets_a_strict_http_only_session_cookie(
    server: Server,
) -> None:
    form = await server.client.get("/ui/sign-in")
    nonce = hidden(await form.text(), "sign_in_token")

    answer = await server.client.post(
        "/ui/sign-in",
        data={"sign_in_token": nonce, "token": server.instance.admin_token, "next": "/ui/pool"},
        allow_redirects=False,
    )

    cookie = answer.cookies["lls_ui"]
    assert answer.status == 303 and answer.headers["Location"] == "/ui/pool"
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/ui/"
    assert not cookie["secure"]  # plain HTTP here; see the TLS test


async def test_sign_in_with_a_wrong_token_is_401_and_opens_no_session(server: Server) -> None:
    form = await server.client.get("/ui/sign-in")
    nonce = hidden(await form.text(), "sign_in_token")

    answer = await server.client.post(
        "/ui/sign-in", data={"sign_in_token": nonce, "token": "guess"}, allow_redirects=False
    )

    assert answer.status == 401 and "lls_ui" not in answer.cookies
    assert "not valid" in await answer.text()
    assert (await server.client.get("/ui/", allow_redirects=False)).status == 303


async def test_sign_in_posted_from_elsewhere_without_its_form_token_is_403(
    server: Server,
) -> None:
    answer = await server.client.post(
        "/ui/sign-in", data={"token": server.instance.admin_token}, allow_redirects=False
    )

    assert answer.status == 403 and "lls_ui" not in answer.cookies


async def test_too_many_wrong_tokens_from_one_address_is_429_even_for_the_right_one(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("LIC-ONE")], ui_sign_in_failures=3)
    for _ in range(3):
        form = await server.client.get("/ui/sign-in")
        nonce = hidden(await form.text(), "sign_in_token")
        await server.client.post("/ui/sign-in", data={"sign_in_token": nonce, "token": "bad"})
    form = await server.client.get("/ui/sign-in")
    nonce = hidden(await form.text(), "sign_in_token")

    answer = await server.client.post(
        "/ui/sign-in",
        data={"sign_in_token": nonce, "token": server.instance.admin_token},
        allow_redirects=False,
    )

    assert answer.status == 429 and int(answer.headers["Retry-After"]) > 0
    assert "lls_ui" not in answer.cookies


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ui/", "/admin/v1/"])
async def test_sign_in_never_sends_the_browser_outside_the_dashboard(
    server: Server, target: str
) -> None:
    form = await server.client.get("/ui/sign-in")
    nonce = hidden(await form.text(), "sign_in_token")

    answer = await server.client.post(
        "/ui/sign-in",
        data={"sign_in_token": nonce, "token": server.instance.admin_token, "next": target},
        allow_redirects=False,
    )

    assert answer.headers["Location"] == "/ui/"


async def test_sign_out_ends_the_session_on_the_server(server: Server) -> None:
    csrf = await as_admin(server)
    cookie = server.client.session.cookie_jar.filter_cookies(server.client.make_url("/ui/"))
    stolen = cookie["lls_ui"].value

    await server.client.post("/ui/sign-out", data={"csrf": csrf}, allow_redirects=False)
    server.client.session.cookie_jar.update_cookies({"lls_ui": stolen})
    answer = await server.client.get("/ui/", allow_redirects=False)

    assert answer.status == 303


@pytest.mark.parametrize("csrf", [None, "", "forged-token"])
async def test_post_without_the_sessions_csrf_token_is_403_and_ends_nothing(
    server: Server, csrf: str | None
) -> None:
    await server.activate("LIC-THREE", "pc-1")
    await as_admin(server)
    (session_id,) = await _session_ids(server)
    form = {} if csrf is None else {"csrf": csrf}

    answer = await server.client.post(f"/ui/sessions/{session_id}/end", data=form)

    assert answer.status == 403 and await _session_ids(server) == [session_id]


async def test_csrf_token_of_another_session_is_403(server: Server) -> None:
    await server.activate("LIC-THREE", "pc-1")
    old_csrf = await as_admin(server)
    server.client.session.cookie_jar.clear()
    await as_admin(server)
    (session_id,) = await _session_ids(server)

    answer = await server.client.post(f"/ui/sessions/{session_id}/end", data={"csrf": old_csrf})

    assert answer.status == 403 and await _session_ids(server) == [session_id]


async def test_viewer_sees_every_page_without_any_action_form(server: Server) -> None:
    await server.activate("LIC-THREE", "pc-1")
    await sign_in(server.client, viewer_token(server))
    bodies = {}

    for path in PAGES:
        answer = await server.client.get(path)
        bodies[path] = (answer.status, await answer.text())

    assert {status for status, _ in bodies.values()} == {200}
    assert "pc-1" in bodies["/ui/sessions"][1]
    for _, html in bodies.values():
        assert html.count('method="post"') == 1  # sign-out only
        assert "End session" not in html and "Import pool" not in html


@pytest.mark.parametrize("path", ACTIONS)
async def test_viewer_post_is_403_even_with_its_csrf_token(server: Server, path: str) -> None:
    await server.activate("LIC-THREE", "pc-1")
    csrf = await sign_in(server.client, viewer_token(server))
    path = path.replace("some-id", (await _session_ids(server))[0])
    before = (
        server.licensing.state.usage_seq,
        server.licensing.state.pool,
        await _session_ids(server),
    )

    answer = await server.client.post(path, data={"csrf": csrf})

    assert answer.status == 403
    after = (
        server.licensing.state.usage_seq,
        server.licensing.state.pool,
        await _session_ids(server),
    )
    assert after == before


async def test_every_dashboard_answer_carries_the_security_headers(server: Server) -> None:
    await as_admin(server)
    answers = [
        await server.client.get(path, allow_redirects=False)
        for path in ("/ui/", "/ui/licenses/NOPE", "/ui/static/ui.css", "/ui/sign-in")
    ]
    server.client.session.cookie_jar.clear()
    answers.append(await server.client.get("/ui/sessions", allow_redirects=False))

    for answer in answers:
        assert answer.headers["Content-Security-Policy"] == CSP
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert [a.status for a in answers] == [200, 404, 200, 303, 303]


async def test_a_path_no_page_has_is_a_404_page_with_the_security_headers(server: Server) -> None:
    await as_admin(server)

    for path in ("/ui/nope", "/ui/static/nope.css", "/ui/static/..%2Fguard.py"):
        answer = await server.client.get(path, allow_redirects=False)

        assert answer.status == 404, path
        assert answer.headers["Content-Security-Policy"] == CSP
        assert "text/html" in answer.headers["Content-Type"]


async def test_static_files_are_served_by_name_with_their_type(server: Server) -> None:
    await as_admin(server)

    css = await server.client.get("/ui/static/ui.css")
    svg = await server.client.get("/ui/static/favicon.svg")

    assert css.status == svg.status == 200
    assert css.content_type == "text/css" and b"{" in await css.read()
    assert svg.content_type == "image/svg+xml"
    assert (await server.client.get("/ui/static/ui.css", headers={
        "If-None-Match": css.headers["ETag"]})).status == 304  # fmt: skip


async def test_no_application_runs_an_aiohttp_middleware(server: Server) -> None:
    """A sub-application's middleware makes aiohttp run its middleware machinery for every
    request of the server, each licensing call included (6 % of its instructions,
    bench/instructions.py): the dashboard guards each route instead."""
    app = server.client.app
    subapps = [r.get_info()["app"] for r in app.router.resources() if "app" in r.get_info()]

    assert subapps  # the dashboard is mounted
    assert [a for a in [app, *subapps] if a.middlewares] == []


async def test_pages_are_never_cached_but_static_files_are(server: Server) -> None:
    await as_admin(server)

    page = await server.client.get("/ui/licenses")
    static = await server.client.get("/ui/static/ui.js")

    assert page.headers["Cache-Control"] == "no-store"
    assert "max-age" in static.headers["Cache-Control"]


def test_csp_allows_no_inline_script_or_style_nor_framing() -> None:
    parts = dict(p.split(" ", 1) for p in CSP.split("; "))

    assert parts["script-src"] == parts["style-src"] == parts["default-src"] == "'self'"
    assert parts["frame-ancestors"] == "'none'" and parts["base-uri"] == "'none'"
    assert parts["form-action"] == "'self'"


@pytest.mark.parametrize("path", ["/ui/", "/ui", "/ui/sign-in", "/ui/static/ui.css"])
async def test_dashboard_is_404_on_the_client_listener_when_admin_has_its_own(
    make_server: ServerFactory, path: str
) -> None:
    server = await make_server(None, admin_port=1)  # not the port of this listener

    answer = await server.client.get(path, allow_redirects=False)

    assert answer.status == 404


async def test_dashboard_turned_off_is_404(make_server: ServerFactory) -> None:
    server = await make_server([grant("LIC-ONE")], ui_enabled=False)

    assert (await server.client.get("/ui/", allow_redirects=False)).status == 404


async def test_session_cookie_is_secure_under_tls(
    aiohttp_client: Any, server: Server, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = build_app(  # one listener for the test client (admin.port 0), as tests/conftest
        Config(data_dir=server.instance.data_dir, admin_port=0),
        instance=server.instance,
        run_jobs=False,
    )
    tls_server = TestServer(app)
    await tls_server.start_server(ssl=context)
    client = await aiohttp_client(tls_server)
    form = await client.get("/ui/sign-in", ssl=False)
    nonce = hidden(await form.text(), "sign_in_token")

    answer = await client.post(
        "/ui/sign-in",
        data={"sign_in_token": nonce, "token": server.instance.admin_token},
        allow_redirects=False,
        ssl=False,
    )

    assert answer.status == 303 and answer.cookies["lls_ui"]["secure"]
    assert form.cookies["lls_ui_sign_in"]["secure"]


async def test_a_form_larger_than_its_limit_is_413(server: Server) -> None:
    csrf = await as_admin(server)

    answer = await server.client.post(
        "/ui/sessions/x/end", data={"csrf": csrf, "pad": "x" * 100_000}
    )

    assert answer.status == 413


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(["/ui/licenses", "/ui/sessions", "/ui/offline", "/ui/audit"]),
    params=st.dictionaries(
        st.sampled_from(["q", "sort", "dir", "limit", "cursor", "type", "status", "before"]),
        st.text(max_size=300),
        max_size=5,
    ),
)
async def test_odd_query_strings_never_make_a_500(
    server: Server, path: str, params: dict[str, str]
) -> None:
    if not server.client.session.cookie_jar.filter_cookies(server.client.make_url("/ui/")):
        await as_admin(server)

    answer = await server.client.get(path, params=params)

    assert answer.status in {200, 400}
