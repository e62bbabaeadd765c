"""The dashboard in a real browser (Chromium through Playwright) against a real `lls serve`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lls.client import OfflineDevice
from lls.clock import parse_rfc3339
from tests.e2e.conftest import free_port, lls
from tests.e2e.dashboard_site import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PRODUCT,
    Site,
    need_chromium,
    start_site,
)

playwright_api = pytest.importorskip("playwright.sync_api")
Browser = playwright_api.Browser
Page = playwright_api.Page
expect = playwright_api.expect

PAGES = {
    "overview": "",
    "licenses": "licenses",
    "license": "licenses/E2E-MANY-0002",
    "sessions": "sessions",
    "pool": "pool",
    "usage": "usage",
    "offline": "offline",
    "audit": "audit",
}
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(el => el.type !== 'hidden')
  .filter(el => {
    const byLabel = Array.from(el.labels || []).map(l => l.textContent.trim()).join(' ');
    const name = byLabel || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
      || (el.tagName === 'BUTTON' ? el.textContent.trim() : '');
    return !name;
  })
  .map(el => el.outerHTML)"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    need_chromium()
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One daemon for the module (starting one is the slow part); each test works on
    licenses of its own, so none depends on another's leftovers."""
    running = start_site(tmp_path_factory.mktemp("site"))
    yield running
    running.daemon.stop()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(base_url=site.ui, accept_downloads=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Page, token: str) -> None:
    page.goto("sign-in")
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_with_admin_token_opens_overview(page: Page, site: Site) -> None:
    sign_in(page, site.instance.admin_token)

    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text(site.instance.instance_id).first).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_sign_in_with_wrong_token_is_refused(page: Page, site: Site) -> None:
    sign_in(page, "not-the-token")

    expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert page.context.cookies() == [] or all(
        c["name"] != "lls_ui" for c in page.context.cookies()
    )
    expect(page.get_by_label("Admin token")).to_be_visible()


def test_pages_without_a_session_redirect_to_sign_in_and_show_no_data(
    page: Page, site: Site
) -> None:
    seen = {}
    for name, path in PAGES.items():
        page.goto(path)
        html = page.content()  # the asked-for path is echoed back (`next`), nothing else
        seen[name] = (page.url.split("?")[0], "Example Engineering" in html or "E2E-ONE" in html)

    assert set(seen.values()) == {(site.ui + "sign-in", False)}


def test_end_session_frees_the_seat_for_another_device_at_once(page: Page, site: Site) -> None:
    site.licensing("activate", "E2E-ONE-0001", "desk-a")
    refused = site.licensing("activate", "E2E-ONE-0001", "desk-b")
    sign_in(page, site.instance.admin_token)
    page.goto("sessions?license=E2E-ONE-0001")
    row = page.get_by_role("row").filter(has_text="desk-a")
    expect(row).to_contain_text("E2E-ONE-0001")

    row.get_by_role("button", name="End session").click()

    expect(page.get_by_role("status")).to_contain_text("Ended the session of desk-a")
    expect(page.get_by_role("row").filter(has_text="desk-a")).to_have_count(0)
    assert refused["reason"] == "SESSION_LIMIT_REACHED"
    assert site.licensing("activate", "E2E-ONE-0001", "desk-b")["authStatus"] == "Success"


def test_a_borrowed_seat_shows_its_end_and_an_admin_ends_it(
    page: Page, site: Site, tmp_path: Path
) -> None:
    site.licensing("activate", "E2E-ROAD-0008", "laptop-r")
    device = OfflineDevice(tmp_path / "laptop.jwks")
    device.pin_server(site.daemon.get("/licensing/instance")[1])
    status, answer = site.daemon.post(
        "/licensing/borrow",
        {
            "licenseToken": "E2E-ROAD-0008",
            "authContext": "laptop-r",
            "borrowSeconds": 7 * 86400,  # over the license's day: capped
            **device.prepare_borrow("E2E-ROAD-0008", [PRODUCT], "laptop-r"),
        },
    )
    assert (status, answer["authStatus"], answer["capped"]) == (200, "Success", True)
    device.apply_response(answer["token"])
    ends = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(parse_rfc3339(answer["leaseExpiresAt"])))
    sign_in(page, site.instance.admin_token)
    page.goto("sessions?license=E2E-ROAD-0008")
    row = page.locator("#borrowed").get_by_role("row").filter(has_text="laptop-r")
    expect(row).to_contain_text(ends)

    row.get_by_role("button", name="End borrow").click()

    expect(page.get_by_role("status")).to_contain_text("the device keeps its lease until")
    expect(page.get_by_text("No borrowed seat")).to_be_visible()
    assert site.licensing("activate", "E2E-ROAD-0008", "desk-r")["authStatus"] == "Success"
    assert device.check().activation_id == answer["activationId"]


def test_pool_upload_shows_the_new_seq(page: Page, site: Site) -> None:
    before = site.admin("/admin/v1/status")[1]["pool"]["seq"]
    second = site.issue_pool(f"pool-{before + 1}.lls")
    sign_in(page, site.instance.admin_token)
    page.goto("pool")

    page.get_by_label("Pool file", exact=True).set_input_files(second)
    page.get_by_role("button", name="Import pool").click()

    expect(page.get_by_role("status")).to_contain_text(f"Imported pool seq {before + 1}")
    expect(page.locator("#pool-seq")).to_have_text(str(before + 1))


def test_tampered_pool_upload_shows_the_reason_and_changes_nothing(page: Page, site: Site) -> None:
    before = site.admin("/admin/v1/status")[1]["pool"]["seq"]
    good = site.issue_pool("pool-unused.lls").read_text()
    token = good.splitlines()[-1]
    middle = len(token) // 2
    flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    tampered = site.root / "tampered.lls"
    tampered.write_text(good.replace(token, flipped))
    sign_in(page, site.instance.admin_token)
    page.goto("pool")

    page.get_by_label("Pool file", exact=True).set_input_files(tampered)
    page.get_by_role("button", name="Import pool").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Refused — nothing was changed")
    expect(alert).to_contain_text("Reason code")
    expect(page.locator("#pool-seq")).to_have_text(str(before))
    assert site.admin("/admin/v1/status")[1]["pool"]["seq"] == before


def test_usage_download_is_a_file_the_vendor_verifies(
    page: Page, site: Site, tmp_path: Path
) -> None:
    site.licensing("activate", "E2E-MANY-0002", "lab-1")
    sign_in(page, site.instance.admin_token)
    page.goto("usage")

    with page.expect_download() as started:
        page.get_by_role("button", name="Download a new usage file").click()
    saved = tmp_path / started.value.suggested_filename
    started.value.save_as(saved)

    read = lls("vendor", "read-usage", "--dir", str(site.vendor_dir), str(saved), "--json")
    summary = json.loads(read.stdout)
    assert saved.name == f"usage-{summary['seq']}.lls" and summary["verdict"] == "ok"


def test_license_history_chart_shows_the_hour_and_downloads_as_csv(
    page: Page, site: Site, tmp_path: Path
) -> None:
    for ctx in ("hist-a", "hist-b", "hist-c"):  # two seats: the third is refused
        site.licensing("activate", "E2E-HIST-0008", ctx)
    sign_in(page, site.instance.admin_token)
    page.goto("licenses/E2E-HIST-0008")
    page.get_by_role("link", name="7 days").click()

    chart = page.get_by_role("img", name=re.compile(r"Peak concurrent sessions per hour, last 7"))
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("aria-label", re.compile(r"168 points, lowest 0, highest 2"))
    expect(page.locator("#denials")).to_contain_text("SESSION_LIMIT_REACHED")
    with page.expect_download() as started:
        page.get_by_role("link", name="Download CSV").click()
    saved = tmp_path / started.value.suggested_filename
    started.value.save_as(saved)

    header, *rows = saved.read_text().splitlines()
    assert saved.name == "history-7d.csv" and len(rows) == 168
    assert header == "at,peak_sessions,sessions_started,denied,denied:SESSION_LIMIT_REACHED"
    assert rows[-1].split(",")[1:] == ["2", "2", "1", "1"]


def test_viewer_sees_sessions_but_cannot_end_one(page: Page, site: Site) -> None:
    site.licensing("activate", "E2E-VIEW-0006", "viewer-watched")
    (session_id,) = site.session_ids("E2E-VIEW-0006")
    sign_in(page, site.viewer_token)
    page.goto("sessions")
    expect(page.get_by_role("row").filter(has_text="viewer-watched")).to_have_count(1)
    expect(page.get_by_role("button", name="End session")).to_have_count(0)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")

    forged = page.request.post(f"sessions/{session_id}/end", form={"csrf": csrf or ""})

    assert forged.status == 403
    assert site.session_ids("E2E-VIEW-0006") == [session_id]


def test_post_without_the_csrf_token_is_403(page: Page, site: Site) -> None:
    site.licensing("activate", "E2E-CSRF-0007", "csrf-target")
    sign_in(page, site.instance.admin_token)
    page.goto("sessions?license=E2E-CSRF-0007")
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")

    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="End session").click()

    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert len(site.session_ids("E2E-CSRF-0007")) == 1


def test_keyboard_alone_reaches_and_presses_end_session(page: Page, site: Site) -> None:
    site.licensing("activate", "E2E-KEYS-0004", "keyboard-pc")
    sign_in(page, site.instance.admin_token)
    page.goto("sessions?license=E2E-KEYS-0004")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "End session":
            break

    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text("Ended the session of keyboard-pc")
    assert site.session_ids("E2E-KEYS-0004") == []


def test_overview_refreshes_its_figures_by_itself(page: Page, site: Site) -> None:
    sign_in(page, site.instance.admin_token)
    busiest = page.locator("#busy-h + *")
    expect(busiest).not_to_contain_text("E2E-SOLO-0005")

    site.licensing("activate", "E2E-SOLO-0005", "late-arrival")

    expect(busiest).to_contain_text("E2E-SOLO-0005", timeout=8_000)
    assert page.url == site.ui


def test_every_page_labels_its_controls_and_is_screenshotted(
    page: Page, site: Site, tmp_path: Path
) -> None:
    for ctx in ("cad-1", "cad-2", "cad-3"):
        site.licensing("activate", "E2E-MANY-0002", ctx)
    site.licensing("activate", "E2E-NODE-0003", "survey-van")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto("sign-in")
    unlabelled = {"sign-in": page.evaluate(UNLABELLED)}
    page.screenshot(path=shots / "sign-in.png", full_page=True)
    sign_in(page, site.instance.admin_token)

    for name, path in PAGES.items():
        page.goto(path)
        unlabelled[name] = page.evaluate(UNLABELLED)
        page.screenshot(path=shots / f"{name}.png", full_page=True)

    print(f"dashboard screenshots: {shots}")
    assert unlabelled == {name: [] for name in unlabelled}
    assert sorted(p.stem for p in shots.glob("*.png")) == sorted([*PAGES, "sign-in"])


def test_demo_prints_the_dashboard_url_and_a_token_that_signs_in(
    browser: Browser, tmp_path: Path
) -> None:
    log = tmp_path / "demo.out"
    argv = ["demo", "--port", str(free_port()), "--dir", str(tmp_path / "demo")]
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "lls", *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 30
        while "viewer token" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        printed = log.read_text()
        url = re.search(r"dashboard: (http://\S+/ui/)", printed)
        token = re.search(r"sign in with the admin token (\S+)", printed)
        assert url is not None and token is not None, printed
        context = browser.new_context(base_url=url.group(1))
        page = context.new_page()
        page.goto("", wait_until="load")
        page.get_by_label("Admin token").fill(token.group(1))

        page.get_by_role("button", name="Sign in").click()

        expect(page.get_by_text("Demo Trading Corp").first).to_be_visible()
        context.close()
    finally:
        demo.terminate()
        demo.wait(20)
