"""What a site owner trying the banner meets on first set-up, in Debian's chromium (issue 17).

A gateway that is cross-site with the page records every decision and keeps none (the browser drops
its SameSite=Lax cookie): the banner says why in the console. On a phone the settings layer stands
alone. The demo page's status lines agree after a withdrawal, and it asks for no /favicon.ico.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.banner.test_banner import banner, open_page, page_html, settings_layer, state, warnings
from tests.e2e.gateway_process import Gateway, running_gateway
from tests.support.browser import FixtureSite

DOCS = "https://github.com/consent-gateway/consent-gateway/blob/main/docs/"
DOCS_LINK = DOCS + "embed.md#the-banner-comes-back-on-every-page"
CORS_LINK = DOCS + "embed.md#nothing-shows-and-the-console-shows-a-cors-error"


def decide_and_reread(page: Page, button: str = "Accept all") -> None:
    """Clicks a first-layer button and waits for the banner's read of the state after the decision."""
    with page.expect_response(lambda r: "/consent?site=" in r.url and r.request.method == "GET"):
        banner(page).get_by_role("button", name=button).click()
        expect(banner(page)).to_be_hidden()


def lost_cookie_warnings(page: Page, warned: list[str], expected: int) -> list[str]:
    """The warnings that link to the docs, once ``expected`` of them arrived (the banner warns after its
    read of the state has come back, a moment after the response the test waits for), or after 5 s."""
    for _ in range(100):
        lost = [w for w in warned if DOCS_LINK in w]
        if len(lost) >= expected:
            break
        page.wait_for_timeout(50)
    return lost


def test_a_decision_the_browser_does_not_keep_says_why_once_per_page(
    browser: Browser, site: FixtureSite
) -> None:
    # localhost and 127.0.0.1 have no registrable domain, so each host is a site of its own: a page
    # on localhost and the gateway on 127.0.0.1 are cross-site, as www.example.org and a gateway on
    # stats.example.com are. (The site's origins allow http://localhost:*.)
    cross_site = site.base.replace("127.0.0.1", "localhost")
    site.add("/cross-site.html", page_html())
    context = browser.new_context()
    page = context.new_page()
    warned = warnings(page)
    try:
        page.goto(f"{cross_site}/cross-site.html")
        page.wait_for_function("() => window.ConsentGateway && ConsentGateway.get() !== null")
        decide_and_reread(page)
        assert state(page)["decided"]  # the gateway answered 200 and logged the grant
        assert [c["name"] for c in context.cookies()] == []  # but the browser kept no cookie
        lost = lost_cookie_warnings(page, warned, 1)
        assert len(lost) == 1 and "cookie" in lost[0], warned
        page.get_by_role("button", name="Privacy settings").click()
        settings_layer(page).get_by_role("button", name="Reject all").click()
        expect(settings_layer(page)).to_be_hidden()
        page.wait_for_timeout(300)
        assert len([w for w in warned if DOCS_LINK in w]) == 1  # once per page
        page.reload()
        page.wait_for_function("() => window.ConsentGateway && ConsentGateway.get() !== null")
        expect(banner(page)).to_be_visible()  # what the site owner sees: it asks again
        decide_and_reread(page, "Reject all")
        assert len(lost_cookie_warnings(page, warned, 2)) == 2  # and the new page says why again
    finally:
        context.close()


def test_a_decision_that_sticks_warns_nothing(browser: Browser, site: FixtureSite) -> None:
    context = browser.new_context()
    page = context.new_page()
    warned = warnings(page)
    try:
        open_page(page, site, page_html(), "/same-site.html")  # 127.0.0.1 on two ports: same-site
        decide_and_reread(page)
        assert [c["name"] for c in context.cookies()] == ["cg_consent_1"]
        assert warned == []
    finally:
        context.close()


def test_a_page_on_an_origin_its_site_did_not_configure_is_told_why_in_the_console_and_the_log(
    browser: Browser, site: FixtureSite, gateway: Gateway
) -> None:
    # Site 4 allows only https://www.example.com: the browser refuses the gateway's answers to this
    # page (a CORS error) and the banner shows nothing; both ends say which setting to change.
    context = browser.new_context()
    page = context.new_page()
    warned = warnings(page)
    try:
        page.goto(site.add("/elsewhere.html", page_html(site_id=4)))
        for _ in range(100):
            if any(CORS_LINK in w for w in warned):
                break
            page.wait_for_timeout(50)
        assert [w for w in warned if CORS_LINK in w and "origins" in w], warned
        expect(banner(page)).to_have_count(0)
        origin = site.base.rstrip("/")
        for _ in range(100):  # the gateway's log line, once the request has been answered
            lines = [line for line in gateway.log.splitlines() if f"'{origin}'" in line]
            if lines:
                break
            page.wait_for_timeout(50)
        assert len(lines) == 1 and "`origins`" in lines[0] and "id = 4" in lines[0], lines
    finally:
        context.close()


def test_on_a_phone_the_settings_layer_hides_the_first_and_gives_it_back(
    browser: Browser, site: FixtureSite
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3)
    page = context.new_page()
    try:
        open_page(page, site, page_html(), "/phone.html")
        first = banner(page)
        opener = first.get_by_role("button", name="Settings")
        opener.click()
        expect(settings_layer(page)).to_be_visible()
        expect(first).to_be_hidden()  # not left showing below the dialog
        page.keyboard.press("Escape")  # closed without deciding: the first layer is back
        expect(settings_layer(page)).to_have_count(0)
        expect(first).to_be_visible()
        expect(opener).to_be_focused()
        opener.click()
        settings_layer(page).get_by_role("button", name="Close").click()
        expect(first).to_be_visible()
        opener.click()
        settings_layer(page).get_by_role("button", name="Save choices").click()
        expect(settings_layer(page)).to_have_count(0)
        expect(first).to_have_count(0)  # decided: neither comes back
    finally:
        context.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, city_db: Path) -> Iterator[Gateway]:
    """A gateway with no sites configured, so it serves /demo/ for its demo site."""
    folder = tmp_path_factory.mktemp("banner-demo")
    env = {
        "GATEWAY_DATA_DIR": str(folder / "data"),
        "GATEWAY_GEOIP_CITY_DB": str(city_db),
        "GATEWAY_SECRET_KEYS": "b" * 48,
    }
    with running_gateway(env, folder / "serve.log") as gateway:
        yield gateway


def test_the_demo_page_says_what_is_true_after_a_withdrawal(browser: Browser, demo: Gateway) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{demo.base}/demo/")
        banner(page).get_by_role("button", name="Accept all").click()
        ran = page.locator("#analytics-state")
        expect(ran).to_have_text("The analytics script ran: you allowed analytics.")
        page.get_by_role("button", name="Privacy settings").click()
        settings_layer(page).get_by_role("button", name="Reject all").click()
        expect(page.locator("#consent-state")).to_contain_text("Allowed: necessary")
        expect(ran).to_contain_text("ran earlier on this page, before you withdrew analytics")
        page.get_by_role("button", name="Privacy settings").click()  # granted again: it ran, allowed
        settings_layer(page).get_by_role("button", name="Accept all").click()
        expect(ran).to_have_text("The analytics script ran: you allowed analytics.")
    finally:
        context.close()


def test_the_demo_page_asks_for_nothing_the_gateway_does_not_serve(browser: Browser, demo: Gateway) -> None:
    # Chromium asks for /favicon.ico from the browser process, which Playwright's network events do
    # not show: the gateway's access log does (a path no route serves is logged as -unmatched-).
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{demo.base}/demo/")
        expect(banner(page)).to_be_visible()
        page.wait_for_timeout(1000)  # the icon is asked for once the page has loaded
        access = [line for line in demo.log.splitlines() if "gateway.access" in line]
        assert any("GET /demo/ 200" in line for line in access), access
        assert [line for line in access if " 404 " in line] == []
    finally:
        context.close()
