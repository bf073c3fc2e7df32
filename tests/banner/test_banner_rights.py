"""The settings layer's "Download my data" and "Erase my data", in Debian's chromium against a real
gateway: the export saved as a file, the erasure behind a keyboard- and screen-reader-friendly
confirmation, and what the page is told afterwards (the same as after a refusal).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Route, expect

from gateway.config.texts import DEFAULT_TEXTS
from tests.banner.conftest import proof
from tests.banner.test_banner import banner, open_page, page_html, settings_layer, state
from tests.e2e.gateway_process import Gateway
from tests.support.browser import FixtureSite, screenshot_path

EN = DEFAULT_TEXTS["en"]
SETUP = (  # the site's own gtag and matomo.js snippets, with a listener that records each change
    "window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}"
    "var _paq = window._paq = window._paq || [];"
)
LISTEN = """() => ConsentGateway.on('change', s => {
    window.changes = (window.changes || []).concat([s.categories.join()]); })"""
HIT = """async ({gateway, action}) => (await fetch(gateway + '/matomo.php?idsite=1&rec=1&action_name='
    + action + '&url=' + encodeURIComponent(location.href), {method: 'POST', credentials: 'include'})
    ).status"""


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """The conftest's context, with chromium's user agent less the ``Headless`` marker: the gateway
    drops ``HeadlessChrome`` hits as a bot's, and these tests need the visitor's page views stored."""
    probe = browser.new_context()
    agent: str = probe.new_page().evaluate("() => navigator.userAgent")
    probe.close()
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB",
                                  user_agent=agent.replace("HeadlessChrome/", "Chrome/"))
    yield context
    context.close()


def focused(target: Locator) -> bool:
    """Whether ``target`` has the focus inside its shadow root."""
    return bool(target.evaluate("el => el === el.getRootNode().activeElement"))


def accepted_settings(page: Page, site: FixtureSite, path: str) -> Locator:
    """A visitor who accepted everything and opened the settings layer from the floating control."""
    site.add_script("/rights-setup.js", SETUP)
    html = page_html(head='<script src="/rights-setup.js"></script>', body="<p>Catalogue</p>")
    open_page(page, site, html, path)
    page.evaluate(LISTEN)
    banner(page).get_by_role("button", name="Accept all").click()
    expect(banner(page)).to_be_hidden()
    page.get_by_role("button", name="Privacy settings").click()
    layer = settings_layer(page)
    expect(layer).to_be_visible()
    return layer


def data_requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.method) if "/consent/data?" in r.url else None)
    return seen


def test_a_visitor_downloads_their_data_then_erases_it_from_the_keyboard(
    page: Page, context: BrowserContext, site: FixtureSite, gateway: Gateway
) -> None:
    layer = accepted_settings(page, site, "/rights.html")
    consent_id = state(page)["consent_id"]
    for action in ("Brake%20pads", "Basket"):  # two page views, stored under the visitor's consent id
        assert page.evaluate(HIT, {"gateway": gateway.base, "action": action}) < 300
    page.evaluate("() => { document.cookie = 'ga_test=1; path=/'; }")

    with page.expect_download() as started:
        layer.get_by_role("button", name=EN["download_data"]).click()
    download = started.value
    assert download.suggested_filename == f"consent-data-1-{consent_id}.json"
    exported: dict[str, Any] = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert (exported["format"], exported["site"]) == ("consent-gateway.visitor-data", 1)
    # The brief's contract says "consent_id"; gateway/rights/data.py writes a list, "consent_ids".
    held = exported["consent_ids"] if "consent_ids" in exported else [exported["consent_id"]]
    assert held == [consent_id]
    assert exported["event_count"] == len(exported["events"]) == 2
    expect(layer.get_by_role("alert")).to_have_count(0)  # empty, so hidden: no error

    erase = layer.get_by_role("button", name=EN["erase_data"], exact=True)
    erase.focus()
    page.keyboard.press("Enter")
    confirmation = layer.get_by_role("group", name=EN["erase_warning"])
    expect(confirmation).to_be_visible()
    assert focused(confirmation)  # a screen reader reads the warning first
    page.screenshot(path=screenshot_path("banner-erase-confirmation"))
    page.keyboard.press("Tab")
    assert focused(layer.get_by_role("button", name=EN["erase_confirm"], exact=True))
    page.keyboard.press("Enter")

    status = layer.get_by_role("status")
    expect(status).to_have_text(EN["erased"].replace("{n}", "2"))  # polite: announced, not stealing focus
    expect(confirmation).to_be_hidden()
    assert focused(erase)
    expect(layer).to_be_visible()
    page.screenshot(path=screenshot_path("banner-data-erased"))
    # Now a refusal, told to the page exactly as "Reject all" would be.
    decided = state(page)
    assert (decided["decided"], decided["categories"]) == (True, ["necessary"])
    assert decided["consent_id"] == consent_id  # one id carries the whole history
    expect(layer.get_by_role("checkbox", name="Analytics")).not_to_be_checked()
    expect(layer.get_by_role("checkbox", name="Marketing")).not_to_be_checked()
    assert page.evaluate("() => window.changes") == ["analytics,marketing,necessary", "necessary"]
    updates = page.evaluate("() => Array.from(dataLayer).filter(a => a[0] === 'consent').map(a => a[2])")
    assert set(updates[-1].values()) == {"denied"}
    assert page.evaluate("() => _paq.map(c => c.join())")[-2:] == ["setConsentGiven", "forgetConsentGiven"]
    assert "ga_test" not in {c["name"] for c in context.cookies()}
    decisions = proof(gateway, consent_id)["decisions"]
    assert [(d["action"], d["categories"]) for d in decisions][-1] == ("erase", ["necessary"])
    assert decisions[-1]["language"] == "en"

    with page.expect_download() as again:  # the same receipt, nothing left under it
        layer.get_by_role("button", name=EN["download_data"]).click()
    assert json.loads(Path(again.value.path()).read_text(encoding="utf-8"))["event_count"] == 0
    page.reload()
    page.wait_for_function("() => ConsentGateway.get() && ConsentGateway.get().decided")
    expect(banner(page)).to_be_hidden()  # the refusal holds: no banner
    assert state(page)["categories"] == ["necessary"]


def test_erasing_asks_first_and_escape_or_cancel_change_nothing(page: Page, site: FixtureSite) -> None:
    requests = data_requests(page)
    layer = accepted_settings(page, site, "/rights-cancel.html")
    erase = layer.get_by_role("button", name=EN["erase_data"], exact=True)
    confirmation = layer.get_by_role("group", name=EN["erase_warning"])
    expect(confirmation).to_be_hidden()
    erase.click()
    expect(confirmation).to_be_visible()
    assert focused(confirmation)
    page.keyboard.press("Escape")  # closes the question, not the layer
    expect(confirmation).to_be_hidden()
    expect(layer).to_be_visible()
    assert focused(erase)
    page.keyboard.press("Enter")
    expect(confirmation).to_be_visible()
    confirmation.get_by_role("button", name=EN["cancel"]).click()
    expect(confirmation).to_be_hidden()
    assert focused(erase)
    page.keyboard.press("Escape")  # and then Escape closes the layer as always
    expect(layer).to_be_hidden()
    assert requests == []
    assert state(page)["categories"] == ["analytics", "marketing", "necessary"]


def test_a_failed_download_or_erasure_says_so_and_changes_nothing(page: Page, site: FixtureSite) -> None:
    def refuse(route: Route) -> None:
        if route.request.method == "GET":  # a simple request: no preflight, the answer is read
            cors = {"Access-Control-Allow-Origin": site.base, "Access-Control-Allow-Credentials": "true"}
            route.fulfill(status=429, json={"error": "too many data requests"}, headers=cors)
        else:
            route.abort()  # the gateway cannot be reached

    layer = accepted_settings(page, site, "/rights-failed.html")
    page.route(lambda url: url.startswith(f"{site.gateway}/consent/data?"), refuse)
    downloads: list[Any] = []
    page.on("download", lambda download: downloads.append(download))
    layer.get_by_role("button", name=EN["download_data"]).click()
    expect(layer.get_by_role("alert")).to_have_text(EN["download_error"])
    expect(layer).to_have_attribute("aria-busy", "false")
    layer.get_by_role("button", name=EN["erase_data"], exact=True).click()
    layer.get_by_role("button", name=EN["erase_confirm"], exact=True).click()
    expect(layer.get_by_role("alert")).to_have_text(EN["erase_error"])
    expect(layer.get_by_role("group", name=EN["erase_warning"])).to_be_visible()  # still asking
    expect(layer.get_by_role("status")).to_have_text("")
    assert downloads == []
    assert state(page)["categories"] == ["analytics", "marketing", "necessary"]
    assert page.evaluate("() => window.changes") == ["analytics,marketing,necessary"]
    expect(layer.locator("dd").first).to_have_text(state(page)["consent_id"])  # the receipt is unchanged


def test_the_controls_appear_only_with_a_receipt(page: Page, site: FixtureSite) -> None:
    open_page(page, site, page_html(body="<p>undecided</p>"), "/rights-undecided.html")
    banner(page).get_by_role("button", name="Settings").click()
    layer = settings_layer(page)
    expect(layer).to_be_visible()
    expect(layer.get_by_role("button", name=EN["download_data"])).to_have_count(0)
    expect(layer.get_by_role("button", name=EN["erase_data"])).to_have_count(0)
