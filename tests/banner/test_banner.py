"""The consent banner in Debian's chromium, against a real gateway: what a visitor does and sees.

Each test loads a page of a fixture site (another origin, same site) that embeds ``banner.js``
from the gateway with the one documented tag, and checks what the visitor gets and what the
consent log proves through the site owner's proof API.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, Route, expect

from gateway.config.texts import DEFAULT_TEXTS
from tests.banner.conftest import proof, start_gateway
from tests.e2e.gateway_process import Gateway, free_port, running_gateway
from tests.support.browser import ROOT, FixtureSite, screenshot_path

TAG = '<script src="{gateway}/banner.js" data-site="SITE" async></script>'
SYNC_TAG = TAG.replace(" async", "")  # what Google Consent Mode needs: before the gtag snippet
VERSION = json.loads((ROOT / "consent_banner" / "package.json").read_text())["version"]
GTAG_SNIPPET = (  # Google's snippet, as a site's own external script
    "window.dataLayer = window.dataLayer || [];"
    "function gtag(){dataLayer.push(arguments);} gtag('js', new Date()); gtag('config', 'G-TEST');"
)
DEFAULT = {
    "ad_storage": "denied",
    "ad_user_data": "denied",
    "ad_personalization": "denied",
    "analytics_storage": "denied",
    "wait_for_update": 500,
}
GATED = """
<p id="layout-probe">Catalogue</p>
<script type="text/plain" data-consent="analytics">window.inlineAnalyticsRan = true;</script>
<script type="text/plain" data-consent="analytics" data-src="/analytics.js"></script>
<script type="text/plain" data-consent="marketing" data-src="/marketing.js"></script>
<img alt="" data-consent="analytics" data-src="/pixel.gif">
<iframe title="Ad" data-consent="marketing" data-src="/ad.html"></iframe>
"""


def page_html(
    site_id: int = 1, head: str = "", body: str = GATED, lang: str = "en", tag: str = TAG, after: str = ""
) -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Parts</title>{head}'
        f"{tag.replace('SITE', str(site_id))}{after}</head><body><h1>Brake pads</h1>{body}</body></html>"
    )


@pytest.fixture(autouse=True)
def gated_files(site: FixtureSite) -> None:
    site.add_script("/analytics.js", "window.analyticsFileRan = true;")
    site.add_script("/marketing.js", "window.marketingFileRan = true;")
    site.add("/ad.html", "<p>ad</p>")
    site.add("/pixel.gif", "GIF89a")


def open_page(page: Page, site: FixtureSite, html: str, path: str = "/") -> None:
    page.goto(site.add(path, html))
    page.wait_for_function("() => window.ConsentGateway && ConsentGateway.get() !== null")


def banner(page: Page, name: str = "We value your privacy") -> Locator:
    return page.get_by_role("dialog", name=name)


def settings_layer(page: Page, name: str = "Privacy settings") -> Locator:
    return page.get_by_role("dialog", name=name)


def state(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("() => ConsentGateway.get()")
    return result


def consent_posts(page: Page) -> list[str]:
    """Records every request that could decide something (POST or DELETE to /consent)."""
    seen: list[str] = []
    page.on(
        "request", lambda r: seen.append(r.method) if "/consent" in r.url and r.method != "GET" else None
    )
    return seen


def flags(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("""() => ({inline: !!window.inlineAnalyticsRan,
        analytics: !!window.analyticsFileRan, marketing: !!window.marketingFileRan,
        img: !!document.querySelector('img[data-consent]').getAttribute('src'),
        iframe: !!document.querySelector('iframe[data-consent]').getAttribute('src')})""")
    return result


def cookie(context: BrowserContext, name: str) -> dict[str, Any] | None:
    return next((dict(c) for c in context.cookies() if c["name"] == name), None)


def warnings(page: Page) -> list[str]:
    """Records the text of every console.warn."""
    seen: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "warning":
            seen.append(message.text)

    page.on("console", record)
    return seen


def hold_decisions(page: Page, gateway: str) -> list[Route]:
    """Holds every POST and DELETE to /consent until the test continues (or aborts) it."""
    held: list[Route] = []

    def handle(route: Route) -> None:
        if route.request.method == "GET":
            route.continue_()
        else:
            held.append(route)

    page.route(lambda url: url.startswith(f"{gateway}/consent?"), handle)
    return held


def test_accepting_runs_gated_content_sets_the_cookie_and_logs_a_grant(
    page: Page, context: BrowserContext, site: FixtureSite, gateway: Gateway
) -> None:
    open_page(page, site, page_html())
    first = banner(page)
    expect(first).to_be_visible()
    assert flags(page) == dict.fromkeys(("inline", "analytics", "marketing", "img", "iframe"), False)
    expect(first.get_by_role("link", name="Privacy policy")).to_have_attribute(
        "href", "https://parts.example.com/privacy"
    )
    first.get_by_role("button", name="Accept all").click()
    expect(first).to_be_hidden()
    page.wait_for_function("() => window.marketingFileRan && window.analyticsFileRan")
    assert flags(page) == dict.fromkeys(("inline", "analytics", "marketing", "img", "iframe"), True)
    decided = state(page)
    assert (decided["decided"], decided["categories"]) == (True, ["analytics", "marketing", "necessary"])
    consent = cookie(context, "cg_consent_1")
    assert consent is not None and consent["httpOnly"] and consent["sameSite"] == "Lax"
    log = proof(gateway, decided["consent_id"])
    assert [(d["action"], d["categories"], d["language"]) for d in log["decisions"]] == [
        ("grant", ["analytics", "marketing", "necessary"], "en")
    ]
    shown = log["shown"][log["decisions"][0]["config_hash"]]["config"]
    assert shown["texts"]["en"]["accept_all"] == "Accept all"  # the wording shown is proven
    assert log["decisions"][0]["banner_version"].startswith("1.")
    expect(page.get_by_role("button", name="Privacy settings")).to_be_visible()
    page.reload()
    page.wait_for_function("() => window.analyticsFileRan")
    expect(banner(page)).to_be_hidden()  # the decision holds: no nagging


def test_rejecting_logs_a_refusal_and_gated_scripts_never_run(
    page: Page, context: BrowserContext, site: FixtureSite, gateway: Gateway
) -> None:
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    open_page(page, site, page_html())
    banner(page).get_by_role("button", name="Reject all").click()
    expect(banner(page)).to_be_hidden()
    decided = state(page)
    assert (decided["decided"], decided["categories"]) == (True, ["necessary"])
    assert [d["action"] for d in proof(gateway, decided["consent_id"])["decisions"]] == ["refuse"]
    page.reload()
    page.wait_for_function("() => window.ConsentGateway && ConsentGateway.get() !== null")
    page.wait_for_timeout(300)
    expect(banner(page)).to_be_hidden()
    assert not any(flags(page).values())
    assert not [
        url for url in fetched if url.endswith(("/analytics.js", "/marketing.js", "/pixel.gif", "/ad.html"))
    ]


def test_gated_scripts_run_in_document_order_like_the_parser(page: Page, site: FixtureSite) -> None:
    site.add_script("/lib.js", "window.Lib = {ready: true};")
    body = (
        '<script type="text/plain" data-consent="analytics" data-src="/lib.js"></script>'
        '<script type="text/plain" data-consent="analytics">window.libSeen = typeof Lib;</script>'
    )
    open_page(page, site, page_html(body=body), "/order.html")
    banner(page).get_by_role("button", name="Accept all").click()
    page.wait_for_function("() => window.libSeen !== undefined")
    assert page.evaluate("() => window.libSeen") == "object"  # the inline script waited for the library
    page.reload()  # and for a returning visitor, activated as soon as the state is known
    page.wait_for_function("() => window.libSeen !== undefined")
    assert page.evaluate("() => window.libSeen") == "object"


def test_a_blank_data_consent_never_runs_and_says_why(page: Page, site: FixtureSite) -> None:
    warned = warnings(page)
    body = (
        '<script type="text/plain" data-consent="">window.emptyRan = true;</script>'
        '<script type="text/plain" data-consent="  ">window.blankRan = true;</script>'
        '<img alt="" data-consent="" data-src="/pixel.gif">'
        '<script type="text/plain" data-consent="analytics">window.inlineAnalyticsRan = true;</script>'
    )
    open_page(page, site, page_html(body=body), "/blank.html")
    banner(page).get_by_role("button", name="Accept all").click()
    page.wait_for_function("() => window.inlineAnalyticsRan")
    ran = page.evaluate("() => [!!window.emptyRan, !!window.blankRan, document.querySelector('img').src]")
    assert ran == [False, False, ""]  # fail closed, even with everything granted
    assert len([w for w in warned if "data-consent" in w]) == 3  # once per element


def test_dismissing_records_and_stores_nothing_and_the_banner_returns(
    page: Page, context: BrowserContext, site: FixtureSite
) -> None:
    decisions = consent_posts(page)
    open_page(page, site, page_html())
    expect(banner(page)).to_be_visible()
    page.keyboard.press("Escape")
    expect(banner(page)).to_be_hidden()
    assert decisions == [] and context.cookies() == []
    storage = page.evaluate("() => [localStorage.length, sessionStorage.length]")
    assert storage == [0, 0]
    page.reload()
    expect(banner(page)).to_be_visible()
    banner(page).get_by_role("button", name="Close").click()
    expect(banner(page)).to_be_hidden()
    assert decisions == [] and context.cookies() == []


def test_the_settings_layer_saves_a_choice_per_category(
    page: Page, site: FixtureSite, gateway: Gateway
) -> None:
    open_page(page, site, page_html())
    banner(page).get_by_role("button", name="Settings").click()
    layer = settings_layer(page)
    expect(layer).to_be_visible()
    necessary = layer.get_by_role("checkbox", name="Necessary")
    expect(necessary).to_be_checked()
    expect(necessary).to_be_disabled()
    analytics, marketing = (
        layer.get_by_role("checkbox", name="Analytics"),
        layer.get_by_role("checkbox", name="Marketing"),
    )
    expect(analytics).not_to_be_checked()  # nothing pre-ticked
    expect(marketing).not_to_be_checked()
    expect(layer.get_by_text("consent-gateway analytics")).to_be_visible()  # the services
    analytics.check()
    layer.get_by_role("button", name="Save choices").click()
    expect(layer).to_be_hidden()
    page.wait_for_function("() => window.analyticsFileRan")
    assert flags(page) == {
        "inline": True,
        "analytics": True,
        "marketing": False,
        "img": True,
        "iframe": False,
    }
    decided = state(page)
    assert decided["categories"] == ["analytics", "necessary"]
    assert [d["action"] for d in proof(gateway, decided["consent_id"])["decisions"]] == ["grant"]


def test_withdrawing_is_as_easy_as_giving_and_clears_the_named_cookies(
    page: Page, context: BrowserContext, site: FixtureSite, gateway: Gateway
) -> None:
    open_page(page, site, page_html())
    page.evaluate(
        "() => { ConsentGateway.on('change', s => { window.changes = (window.changes || [])"
        ".concat([s.categories.join()]); }); }"
    )
    banner(page).get_by_role("button", name="Accept all").click()
    expect(banner(page)).to_be_hidden()
    page.evaluate(
        "() => { document.cookie = 'ga_test=1; path=/'; document.cookie = '_pk_id.1.abc=2; path=/';"
        " document.cookie = 'site_pref=dark; path=/'; }"
    )
    consent_id = state(page)["consent_id"]
    page.get_by_role("button", name="Privacy settings").click()
    layer = settings_layer(page)
    expect(layer).to_be_visible()
    expect(layer.get_by_text(consent_id)).to_be_visible()  # the visitor's receipt
    layer.get_by_role("button", name="Reject all").click()
    expect(layer).to_be_hidden()
    decisions = proof(gateway, consent_id)["decisions"]
    assert [d["action"] for d in decisions] == ["grant", "withdraw"]
    withdrawal = decisions[1]  # logged with what it was made on, like any decision (DELETE: in the query)
    assert withdrawal["language"] == "en" and withdrawal["banner_version"].startswith(VERSION), withdrawal
    assert state(page)["categories"] == ["necessary"]
    assert page.evaluate("() => window.changes") == ["analytics,marketing,necessary", "necessary"]
    names = {c["name"] for c in context.cookies()}
    assert "ga_test" not in names and "_pk_id.1.abc" not in names  # cleared with the withdrawal
    assert {"site_pref", "cg_consent_1"} <= names  # the site's own and the decision itself stay


def test_a_policy_change_asks_again_with_a_notice(
    browser: Browser, site: FixtureSite, tmp_path: Path, city_db: Path
) -> None:
    context = browser.new_context()
    page, open_before = context.new_page(), context.new_page()
    module_gateway, port = site.gateway, free_port()
    try:
        with start_gateway(tmp_path, city_db, policy_version="2026-11", port=port) as first:
            site.gateway = first.base
            open_page(page, site, page_html(), "/policy.html")
            banner(page).get_by_role("button", name="Accept all").click()
            expect(banner(page)).to_be_hidden()
            page.reload()
            page.wait_for_function("() => ConsentGateway.get() && ConsentGateway.get().decided")
            expect(banner(page)).to_be_hidden()
            open_before.goto(f"{site.base}/policy.html")
            open_before.get_by_role("button", name="Privacy settings").click()
            expect(settings_layer(open_before)).to_be_visible()
        with start_gateway(tmp_path, city_db, policy_version="2027-01", port=port) as bumped:
            page.reload()
            page.wait_for_function("() => window.ConsentGateway && ConsentGateway.get() !== null")
            expect(banner(page)).to_be_visible()
            expect(banner(page)).to_contain_text("Our privacy policy has changed since your last choice")
            assert state(page)["decided"] is False
            # A page opened under the old policy cannot record a choice on it: it asks again.
            settings_layer(open_before).get_by_role("button", name="Accept all").click()
            again = banner(open_before)
            expect(again).to_contain_text("Our privacy policy has changed since your last choice")
            again.get_by_role("button", name="Accept all").click()
            expect(again).to_be_hidden()
            decided = state(open_before)
            assert (decided["decided"], decided["policy_version"]) == (True, "2027-01")
            assert [
                (d["action"], d["policy_version"])
                for d in proof(bumped, decided["consent_id"])["decisions"]
            ] == [("grant", "2026-11"), ("grant", "2027-01")]  # one consent id, its whole history
    finally:
        site.gateway = module_gateway
        context.close()


def test_a_choice_on_changed_wording_reopens_the_layer_with_the_new_wording(
    browser: Browser, site: FixtureSite, tmp_path: Path, city_db: Path
) -> None:
    context = browser.new_context()
    page = context.new_page()
    decisions = consent_posts(page)
    module_gateway, port = site.gateway, free_port()
    try:
        with start_gateway(tmp_path, city_db, port=port) as first:
            site.gateway = first.base
            open_page(page, site, page_html(), "/wording.html")
            banner(page).get_by_role("button", name="Accept all").click()
            expect(banner(page)).to_be_hidden()
            page.get_by_role("button", name="Privacy settings").click()
            expect(settings_layer(page)).to_be_visible()
        # The same policy, new wording: the page's choice cannot be proven against what it showed.
        english = {"settings_title": "Your privacy choices", "save": "Keep these choices"}
        with start_gateway(tmp_path, city_db, port=port, english=english) as reworded:
            old = settings_layer(page)
            old.get_by_role("checkbox", name="Marketing").uncheck()
            old.get_by_role("button", name="Save choices").click()
            again = settings_layer(page, "Your privacy choices")
            expect(again).to_be_visible()  # asked again in the same layer, not dropped silently
            expect(old).to_have_count(0)
            expect(banner(page)).to_have_count(0)  # still decided: no first layer
            again.get_by_role("checkbox", name="Marketing").uncheck()
            again.get_by_role("button", name="Keep these choices").click()
            expect(again).to_be_hidden()
            decided = state(page)
            assert decided["categories"] == ["analytics", "necessary"]
            log = proof(reworded, decided["consent_id"])["decisions"]
            assert [(d["action"], d["categories"]) for d in log] == [
                ("grant", ["analytics", "marketing", "necessary"]),
                ("update", ["analytics", "necessary"]),
            ]
            assert log[0]["config_hash"] != log[1]["config_hash"]  # each on the wording it showed
            assert decisions == ["POST", "POST", "POST"]  # the stale one was refused, not logged
    finally:
        site.gateway = module_gateway
        context.close()


def tab_to(page: Page, target: Locator, presses: int = 12) -> None:
    """Press Tab until ``target`` has the focus, as a keyboard user would; fail if it never does."""
    for _ in range(presses):
        if target.evaluate("el => el === el.getRootNode().activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target}")


def test_a_keyboard_alone_can_do_everything(page: Page, site: FixtureSite) -> None:
    html = page_html(
        body=GATED + '<p><button type="button" data-consent-settings>Cookie choices</button></p>'
    )
    page.goto(site.add("/keyboard.html", html))
    first = banner(page)
    expect(first).to_be_visible()
    assert page.evaluate("() => document.activeElement.tagName") == "CONSENT-GATEWAY"  # focus moved in
    tab_to(page, first.get_by_role("button", name="Settings"))
    page.keyboard.press("Enter")
    layer = settings_layer(page)
    expect(layer).to_be_visible()
    analytics = layer.get_by_role("checkbox", name="Analytics")
    tab_to(page, analytics)
    page.keyboard.press("Space")
    expect(analytics).to_be_checked()
    tab_to(page, layer.get_by_role("button", name="Save choices"))
    page.keyboard.press("Enter")
    expect(layer).to_be_hidden()
    page.wait_for_function("() => window.analyticsFileRan")
    own_link = page.get_by_role("button", name="Cookie choices")
    own_link.focus()
    page.keyboard.press("Enter")  # the site's own control opens the settings
    expect(layer).to_be_visible()
    page.keyboard.press("Escape")
    expect(layer).to_be_hidden()
    expect(own_link).to_be_focused()  # focus returns where it was


def test_focus_is_trapped_in_a_modal_and_visible(page: Page, site: FixtureSite) -> None:
    open_page(
        page, site, page_html(site_id=2, body="<a href='#'>before</a>" + GATED + "<a href='#'>after</a>")
    )
    modal = banner(page)
    expect(modal).to_be_visible()
    assert modal.get_attribute("aria-modal") == "true"
    described = modal.get_attribute("aria-describedby")
    assert described and page.evaluate(
        f"() => document.querySelector('consent-gateway').shadowRoot.getElementById('{described}') !== null"
    )
    inside = "() => document.activeElement.tagName === 'CONSENT-GATEWAY'"
    outlines = set()
    for key in ["Tab"] * 8 + ["Shift+Tab"] * 8:
        page.keyboard.press(key)
        assert page.evaluate(inside), f"focus left the modal after {key}"
        outlines.add(
            page.evaluate("""() => { const el = document.activeElement.shadowRoot.activeElement;
            const style = getComputedStyle(el); return style.outlineStyle !== 'none' && parseFloat(
            style.outlineWidth) >= 2; }""")
        )
    assert outlines == {True}  # every focused control shows it


def test_google_consent_mode_v2_gets_a_default_and_an_update(page: Page, site: FixtureSite) -> None:
    site.add_script(
        "/gtag-setup.js",
        "window.dataLayer = window.dataLayer || [];"
        "function gtag(){dataLayer.push(arguments);} gtag('js', new Date());",
    )
    open_page(page, site, page_html(head='<script src="/gtag-setup.js"></script>'), "/gcm.html")
    read = "() => Array.from(dataLayer).map(a => Array.from(a)).filter(a => a[0] === 'consent')"
    entries = page.evaluate(read)
    assert entries[0] == [
        "consent",
        "default",
        {
            "ad_storage": "denied",
            "ad_user_data": "denied",
            "ad_personalization": "denied",
            "analytics_storage": "denied",
            "wait_for_update": 500,
        },
    ]
    banner(page).get_by_role("button", name="Settings").click()
    layer = settings_layer(page)
    layer.get_by_role("checkbox", name="Analytics").check()
    layer.get_by_role("button", name="Save choices").click()
    expect(layer).to_be_hidden()
    assert page.evaluate(read)[-1] == [
        "consent",
        "update",
        {
            "analytics_storage": "granted",
            "ad_storage": "denied",
            "ad_user_data": "denied",
            "ad_personalization": "denied",
        },
    ]
    page.reload()
    page.wait_for_function("() => ConsentGateway.get() && ConsentGateway.get().decided")
    after = page.evaluate(read)
    assert [e[1] for e in after] == ["default", "update"]  # a known decision is pushed on every page
    assert after[1][2]["analytics_storage"] == "granted"


def test_google_consent_mode_default_comes_before_the_gtag_config(page: Page, site: FixtureSite) -> None:
    warned = warnings(page)
    site.add_script("/gtag-snippet.js", GTAG_SNIPPET)
    html = page_html(tag=SYNC_TAG, after='<script src="/gtag-snippet.js"></script>', body="<p>gtag</p>")
    open_page(page, site, html, "/gcm-sync.html")
    entries = page.evaluate("""() => Array.from(dataLayer).map(a => [
        Object.prototype.toString.call(a), a[0], typeof a[1] === 'string' ? a[1] : null])""")
    assert {kind for kind, _, _ in entries} == {"[object Arguments]"}  # exactly as gtag() pushes
    commands = [(command, detail) for _, command, detail in entries]
    assert commands.index(("consent", "default")) < commands.index(("config", "G-TEST"))
    assert commands[0] == ("consent", "default")
    assert ("consent", "update") not in commands  # an undecided visitor: the default only
    assert not [w for w in warned if "consent default" in w]


def test_google_consent_mode_default_is_pushed_without_any_gtag_yet(page: Page, site: FixtureSite) -> None:
    open_page(page, site, page_html(body="<p>no gtag</p>"), "/gcm-none.html")  # an undecided visitor
    entries = page.evaluate("() => Array.from(window.dataLayer || []).map(a => Array.from(a))")
    assert entries == [["consent", "default", DEFAULT]]  # gtag.js reads it whenever it loads


def test_google_consent_mode_warns_when_banner_js_comes_too_late(page: Page, site: FixtureSite) -> None:
    warned = warnings(page)
    site.add_script("/gtag-snippet.js", GTAG_SNIPPET)
    html = page_html(head='<script src="/gtag-snippet.js"></script>', body="<p>late</p>")
    open_page(page, site, html, "/gcm-late.html")
    assert len([w for w in warned if "consent default" in w]) == 1


def test_matomo_js_is_told_to_wait_for_consent_and_forgets_only_a_withdrawn_grant(
    page: Page, site: FixtureSite
) -> None:
    # forgetConsentGiven makes matomo.js write a 30-year mtm_consent_removed cookie: never for a
    # visitor who did not grant, only when a grant is withdrawn on the page.
    site.add_script(
        "/paq-setup.js", "var _paq = window._paq = window._paq || []; _paq.push(['trackPageView']);"
    )
    open_page(page, site, page_html(head='<script src="/paq-setup.js"></script>'), "/paq.html")
    paq = "() => _paq.map(c => c.join())"
    assert page.evaluate(paq) == ["trackPageView", "requireConsent"]
    banner(page).get_by_role("button", name="Reject all").click()
    expect(banner(page)).to_be_hidden()
    assert page.evaluate(paq) == ["trackPageView", "requireConsent"]  # refused: nothing to forget
    page.reload()
    page.wait_for_function("() => ConsentGateway.get() && ConsentGateway.get().decided")
    assert page.evaluate(paq) == ["trackPageView", "requireConsent"]  # nor on the next pages
    page.get_by_role("button", name="Privacy settings").click()
    settings_layer(page).get_by_role("button", name="Accept all").click()
    expect(settings_layer(page)).to_be_hidden()
    page.get_by_role("button", name="Privacy settings").click()
    settings_layer(page).get_by_role("button", name="Reject all").click()
    expect(settings_layer(page)).to_be_hidden()
    assert page.evaluate(paq) == [
        "trackPageView",
        "requireConsent",
        "setConsentGiven",
        "forgetConsentGiven",
    ]
    page.reload()
    page.wait_for_function("() => ConsentGateway.get() && ConsentGateway.get().decided")
    assert page.evaluate(paq) == ["trackPageView", "requireConsent"]


def test_a_decision_in_flight_ignores_other_buttons_until_answered(page: Page, site: FixtureSite) -> None:
    decisions = consent_posts(page)
    held = hold_decisions(page, site.gateway)
    open_page(page, site, page_html(), "/busy.html")
    first = banner(page)
    first.get_by_role("button", name="Accept all").click()
    expect(first).to_have_attribute("aria-busy", "true")
    first.get_by_role("button", name="Settings").click()  # a second click over a pending Accept
    first.get_by_role("button", name="Reject all").click()
    page.wait_for_timeout(200)
    expect(settings_layer(page)).to_have_count(0)
    assert decisions == ["POST"] and len(held) == 1
    held.pop().abort()  # the gateway cannot be reached: the layer says so and works again
    expect(first.get_by_role("alert")).to_have_text(re.compile(r"\S"))
    expect(first).to_have_attribute("aria-busy", "false")
    first.get_by_role("button", name="Settings").click()
    layer = settings_layer(page)
    expect(layer).to_be_visible()
    layer.get_by_role("button", name="Save choices").click()
    expect(layer).to_have_attribute("aria-busy", "true")
    layer.get_by_role("button", name="Accept all").click()
    page.wait_for_timeout(200)
    assert decisions == ["POST", "POST"] and len(held) == 1
    held.pop().continue_()
    expect(layer).to_be_hidden()
    expect(first).to_be_hidden()
    assert state(page)["categories"] == ["necessary"]  # what was saved, not the ignored Accept all


def test_the_receipt_date_survives_a_language_intl_refuses(page: Page, site: FixtureSite) -> None:
    # Intl throws a RangeError for some tags; the receipt then uses the browser's own format.
    page.add_init_script("""(() => { const own = Date.prototype.toLocaleString;
        Date.prototype.toLocaleString = function (locale, options) {
            if (locale !== undefined) throw new RangeError('Incorrect locale information provided');
            return own.call(this); }; })()""")
    open_page(page, site, page_html(body="<p>receipt</p>"), "/date.html")
    banner(page).get_by_role("button", name="Accept all").click()
    expect(banner(page)).to_be_hidden()
    page.get_by_role("button", name="Privacy settings").click()
    layer = settings_layer(page)
    expect(layer).to_be_visible()
    shown = page.evaluate("() => new Date(ConsentGateway.get().decided_at).toLocaleString()")
    expect(layer.locator("dd").last).to_have_text(shown)


def test_the_demo_page_shows_the_state_when_ready_came_before_its_script(
    browser: Browser, tmp_path: Path, city_db: Path
) -> None:
    env = {
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_GEOIP_CITY_DB": str(city_db),
        "GATEWAY_SECRET_KEYS": "b" * 48,
    }
    context = browser.new_context()
    page = context.new_page()
    held: list[Route] = []
    page.route(lambda url: url.endswith("/demo/demo.js"), lambda route: held.append(route))
    try:
        with running_gateway(env, tmp_path / "serve.log") as demo:  # no sites: the demo site
            page.goto(f"{demo.base}/demo/", wait_until="commit")
            # The async banner.js is ready while the deferred demo.js is still on its way.
            page.wait_for_function("() => window.ConsentGateway && ConsentGateway.get() !== null")
            assert len(held) == 1
            held.pop().continue_()
            expect(page.locator("#consent-state")).to_have_text(
                "No decision yet: nothing about you is stored."
            )
    finally:
        context.close()


def test_global_privacy_control_is_honoured_and_explained(
    browser: Browser, site: FixtureSite, gateway: Gateway
) -> None:
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    page = context.new_page()
    try:
        open_page(page, site, page_html(), "/gpc.html")
        decided = state(page)
        assert (decided["decided"], decided["categories"]) == (True, ["necessary"])
        expect(banner(page)).to_be_hidden()  # decided by the signal: no banner
        assert [(d["action"], d["source"]) for d in proof(gateway, decided["consent_id"])["decisions"]] == [
            ("refuse", "gpc")
        ]
        page.get_by_role("button", name="Privacy settings").click()
        expect(settings_layer(page)).to_contain_text("Global Privacy Control")
    finally:
        context.close()


def test_languages_follow_the_page_then_the_browser(browser: Browser, site: FixtureSite) -> None:
    context = browser.new_context(locale="es-ES")
    page = context.new_page()
    try:
        open_page(page, site, page_html(lang="de"), "/de.html")
        expect(banner(page, "Wir respektieren Ihre Privatsphäre")).to_be_visible()
        open_page(page, site, page_html(lang=""), "/browser-language.html")
        expect(banner(page, "Respetamos tu privacidad")).to_be_visible()
        open_page(page, site, page_html(lang="zh-CN"), "/zh.html")
        chinese = banner(page, "我们重视您的隐私")
        expect(chinese).to_be_visible()
        expect(chinese.get_by_role("button", name="全部接受")).to_be_visible()
        page.screenshot(path=screenshot_path("banner-zh-CN"))
    finally:
        context.close()


def test_arabic_is_laid_out_right_to_left(page: Page, site: FixtureSite) -> None:
    open_page(page, site, page_html(site_id=2, lang="ar"), "/ar.html")
    modal = banner(page, "نحن نحترم خصوصيتك")
    expect(modal).to_be_visible()
    assert modal.evaluate("el => getComputedStyle(el).direction") == "rtl"
    accept, reject = (
        modal.get_by_role("button", name="قبول الكل"),
        modal.get_by_role("button", name="رفض الكل"),
    )
    accept_box, reject_box = accept.bounding_box(), reject.bounding_box()
    assert accept_box and reject_box
    if abs(accept_box["y"] - reject_box["y"]) < 5:  # side by side: the first button is on the right
        assert accept_box["x"] > reject_box["x"]
    page.screenshot(path=screenshot_path("banner-rtl-arabic"))


@pytest.mark.parametrize(("width", "height"), [(320, 640), (640, 400)])  # a phone; 1280×800 at 200 % zoom
def test_small_screens_and_zoom_keep_everything_reachable(
    browser: Browser, site: FixtureSite, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=2)
    page = context.new_page()
    try:
        open_page(page, site, page_html(), f"/small-{width}.html")
        first = banner(page)
        expect(first).to_be_visible()
        for name in ("Accept all", "Reject all", "Settings"):
            box = first.get_by_role("button", name=name).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, name
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width  # no sideways scroll
        if width == 320:
            page.screenshot(path=screenshot_path("banner-mobile-320"))
        first.get_by_role("button", name="Settings").click()
        layer = settings_layer(page)
        save = layer.get_by_role("button", name="Save choices")
        save.scroll_into_view_if_needed()
        box = save.bounding_box()
        assert (
            box
            and box["y"] >= 0
            and box["y"] + box["height"] <= height
            and box["x"] + box["width"] <= width
        )
        save.click()
        expect(layer).to_be_hidden()
    finally:
        context.close()


def test_the_banner_does_not_shift_the_page_or_call_anyone_else(page: Page, site: FixtureSite) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(site.add("/shift.html", page_html().replace(TAG.replace("SITE", "1"), "")))
    before = page.locator("#layout-probe").bounding_box()
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.evaluate(f"""() => {{ const s = document.createElement('script'); s.src = '{site.gateway}/banner.js';
        s.dataset.site = '1'; document.head.append(s); }}""")
    expect(banner(page)).to_be_visible()
    assert page.locator("#layout-probe").bounding_box() == before
    assert page.evaluate("() => document.documentElement.scrollHeight") == height
    banner(page).get_by_role("button", name="Reject all").click()
    expect(banner(page)).to_be_hidden()
    origins = {re.match(r"https?://[^/]+", url).group(0) for url in requests}  # type: ignore[union-attr]
    assert origins <= {site.base, site.gateway}


def test_a_strict_content_security_policy_is_enough(page: Page, site: FixtureSite) -> None:
    gateway = site.gateway
    policy = f"default-src 'self'; script-src 'self' {gateway}; style-src 'self'; connect-src {gateway}"
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(site.add("/csp.html", page_html(body="<p>strict</p>"), **{"Content-Security-Policy": policy}))
    first = banner(page)
    expect(first).to_be_visible()
    styled = first.evaluate("el => getComputedStyle(el).position")
    assert styled == "fixed"  # the banner's own styles applied under style-src 'self'
    accept = first.get_by_role("button", name="Accept all")
    assert accept.evaluate("el => getComputedStyle(el).cursor") == "pointer"
    accept.click()
    expect(first).to_be_hidden()
    assert violations == []


AXE_RUN = """async () => {
    const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
    const result = await axe.run({include: [['consent-gateway']]}, {runOnly: tags});
    return result.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '));
}"""


def test_axe_finds_no_accessibility_violations(browser: Browser, site: FixtureSite) -> None:
    axe = (ROOT / "consent_banner" / "node_modules" / "axe-core" / "axe.min.js").read_text()
    for scheme in ("light", "dark"):
        for site_id in (1, 2, 3):
            context = browser.new_context(color_scheme=scheme)
            page = context.new_page()
            try:
                open_page(
                    page,
                    site,
                    page_html(site_id=site_id, body="<main><p>Catalogue</p></main>"),
                    f"/axe-{scheme}-{site_id}.html",
                )
                page.add_script_tag(content=axe)
                expect(page.locator("consent-gateway")).to_be_attached()
                texts = DEFAULT_TEXTS["en"]  # each page says lang="en"
                for layer in ("banner", "settings", "receipt", "erase-confirmation"):
                    if layer == "settings":
                        page.evaluate("() => ConsentGateway.show()")
                    elif layer == "receipt":  # decided: the receipt, "Download my data", "Erase my data"
                        settings_layer(page, texts["settings_title"]).get_by_role(
                            "button", name=texts["save"]
                        ).click()
                        page.wait_for_function("() => ConsentGateway.get().decided")
                        page.evaluate("() => ConsentGateway.show()")
                    elif layer == "erase-confirmation":
                        page.get_by_role("button", name=texts["erase_data"], exact=True).click()
                        expect(page.get_by_role("group", name=texts["erase_warning"])).to_be_visible()
                    result = page.evaluate(AXE_RUN)
                    assert result == [], (scheme, site_id, layer, result)
            finally:
                context.close()


def test_reduced_motion_turns_animation_off(browser: Browser, site: FixtureSite) -> None:
    context = browser.new_context(reduced_motion="reduce")
    page = context.new_page()
    try:
        open_page(page, site, page_html(), "/motion.html")
        expect(banner(page)).to_be_visible()
        moving = page.evaluate("""() => [...document.querySelector('consent-gateway').shadowRoot
            .querySelectorAll('*')].map(el => getComputedStyle(el)).filter(s =>
            (s.animationName !== 'none' && parseFloat(s.animationDuration) > 0.01) ||
            parseFloat(s.transitionDuration) > 0.01).length""")
        assert moving == 0
    finally:
        context.close()


def test_screenshots_for_people(browser: Browser, site: FixtureSite) -> None:
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 720})
        page = context.new_page()
        try:
            open_page(page, site, page_html(), f"/shot-{scheme}.html")
            expect(banner(page)).to_be_visible()
            page.screenshot(path=screenshot_path(f"banner-{scheme}"))
            if scheme == "light":
                banner(page).get_by_role("button", name="Settings").click()
                expect(settings_layer(page)).to_be_visible()
                page.screenshot(path=screenshot_path("banner-settings"))
        finally:
            context.close()
    for site_id, name in ((2, "banner-centre"), (3, "banner-corner-dark")):
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        try:
            open_page(page, site, page_html(site_id=site_id), f"/shot-{name}.html")
            page.screenshot(path=screenshot_path(name))
        finally:
            context.close()
