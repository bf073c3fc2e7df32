"""Our tracker, ``t.js``, in Debian's chromium with the real banner and the real gateway.

Each page of the fixture site embeds the two tags a site owner pastes, ``banner.js`` and ``t.js``
from the gateway (another origin, same site), and often a Matomo-style ``_paq`` snippet before
them. What is checked is what a visitor or a site owner would notice: which requests leave the
browser, what the page finds in its cookies and storage, and which rows land in ClickHouse.

Clicks on links really navigate: the brochure is served as an attachment (a download: the page
stays), and an outlink goes to a host of its own that the context answers itself, so the browser
stays offline.

Waiting for a hit: with the sync API, the context's route (which adds the visitor's forwarded
address) runs only while the test is inside a Playwright call. A hit still waiting for its route does
not reach the gateway while the test sleeps polling ClickHouse, so a test first waits until the hits
it expects have left (``settled``), then for the rows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Request, Response, Route, expect

from gateway.stats.visits import DEFAULT_TIMEOUT, VISITS
from gateway.storage.clickhouse import Database
from tests.e2e.gateway_process import Gateway
from tests.geoip_fixture import BERLIN
from tests.support.browser import FixtureSite
from tests.support.browser import Page as SitePage
from tests.tracker.conftest import (
    AWAIT_DECISION,
    SCREEN,
    accept,
    counter,
    events,
    wait_for_events,
    withdraw,
)

TRACKING_PATHS = ("/t", "/matomo.php", "/piwik.php")
OUTLINK = "https://brake-maker.example/pads?from=catalogue"
BERLIN_CITY = (BERLIN.country_code, BERLIN.subdivision_code, BERLIN.city_names["en"])
# Records every write to cookies, Web Storage or IndexedDB, by any script of the page, in
# window.__writes, and what the page held before its first script ran in window.__before.
WATCH_STORAGE = """
(() => {
  const writes = (window.__writes = []);
  window.__before = {cookie: document.cookie, local: {...localStorage}, session: {...sessionStorage}};
  const cookie = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  Object.defineProperty(Document.prototype, "cookie", {
    configurable: true,
    get() { return cookie.get.call(this); },
    set(value) { writes.push("cookie " + value); cookie.set.call(this, value); },
  });
  const watch = (prototype, name) => {
    const original = prototype[name];
    prototype[name] = function (...args) {
      writes.push(name + " " + args);
      return original.apply(this, args);
    };
  };
  ["setItem", "removeItem", "clear"].forEach((name) => watch(Storage.prototype, name));
  watch(IDBFactory.prototype, "open");
})();
"""
STORAGE = """async () => ({cookie: document.cookie, local: {...localStorage}, session: {...sessionStorage},
    databases: (await indexedDB.databases()).map((database) => database.name), writes: window.__writes})"""
NOTHING_STORED = {"cookie": "", "local": {}, "session": {}, "databases": [], "writes": []}


def tracked_page(title: str, *, paq: str = "", body: str = "", spa: bool = False) -> str:
    """A page with the banner's and the tracker's tags; ``paq``: calls queued before either loads."""
    snippet = f"<script>var _paq = (window._paq = window._paq || []); _paq.push({paq});</script>"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"{snippet if paq else ''}"
        '<script src="{gateway}/banner.js" data-site="1" async></script>'
        f'<script src="{{gateway}}/t.js" data-site="1"{" data-spa" if spa else ""} async></script>'
        f"</head><body><h1>{title}</h1>{body}</body></html>"
    )


LINKS = (
    '<p><a href="brochure.pdf">Brochure (PDF)</a></p>'
    f'<p><a href="{OUTLINK}">Brake maker</a></p>'
    '<p><a href="mailto:parts@example.com">Write to us</a></p>'
)
CATALOGUE = tracked_page("Brake pads", paq='["enableLinkTracking"]', body=LINKS)


def is_tracking(url: str) -> bool:
    return urlsplit(url).path in TRACKING_PATHS


def parameter(request: Request | Response, name: str) -> str:
    """One parameter of a tracking request's query string ("" when absent)."""
    return parse_qs(urlsplit(request.url).query).get(name, [""])[0]


def tracking_requests(context: BrowserContext) -> list[Request]:
    """Records every request to a tracking path, from any page of the context, as it leaves."""
    seen: list[Request] = []
    context.on("request", lambda request: seen.append(request) if is_tracking(request.url) else None)
    return seen


@contextmanager
def settled(page: Page, count: int = 1) -> Iterator[None]:
    """After the block, waits until ``count`` tracking requests it sent were answered, or cut off as
    their page was left (an outlink's beacon: the gateway still got it)."""
    done: list[Request] = []

    def record(request: Request) -> None:
        if is_tracking(request.url):
            done.append(request)

    page.context.on("requestfinished", record)
    page.context.on("requestfailed", record)
    yield
    deadline = time.monotonic() + 30  # generous: a passing test never waits for it
    while len(done) < count:
        assert time.monotonic() < deadline, f"{len(done)} of {count} tracking requests settled in 30 s"
        page.wait_for_timeout(20)  # a Playwright call: routes run meanwhile
    page.context.remove_listener("requestfinished", record)
    page.context.remove_listener("requestfailed", record)


def in_turn(page: Page, *actions: Callable[[], object]) -> None:
    """Each action, sending one hit, once the hit of the one before left: the gateway stamps a hit
    when it arrives, and the rows are read in that order."""
    for action in actions:
        with settled(page):
            action()


def serve_files(context: BrowserContext, site: FixtureSite, prefix: str) -> None:
    """The brochure, which downloads (the page stays), and the other host an outlink goes to."""
    site.pages[prefix + "brochure.pdf"] = SitePage(
        "%PDF-1.4\n%%EOF\n", {"Content-Disposition": "attachment"}, "application/pdf"
    )

    def brake_maker(route: Route) -> None:
        route.fulfill(content_type="text/html", body="<title>Brake maker</title><h1>Brake maker</h1>")

    context.route("https://brake-maker.example/**", brake_maker)


def open_tracked(
    page: Page, site: FixtureSite, path: str, html: str, *, query: str = "", referer: str | None = None
) -> None:
    """Opens the page; returns once the banner knows the visitor's state and t.js took over _paq."""
    page.goto(site.add(path, html) + query, referer=referer)
    page.wait_for_function(
        "() => window.ConsentGateway && ConsentGateway.get() !== null && !Array.isArray(window._paq)"
    )


def push(page: Page, *commands: list[Any]) -> None:
    """What the site's own scripts do: calls through ``window._paq``."""
    page.evaluate("(commands) => commands.forEach((command) => window._paq.push(command))", commands)


def reject_all(page: Page) -> dict[str, Any]:
    """Click "Reject all" in the first layer; the decision once the banner reported it."""
    page.evaluate(AWAIT_DECISION)
    first_layer = page.get_by_role("dialog", name="We value your privacy")
    first_layer.get_by_role("button", name="Reject all").click()
    decision: dict[str, Any] = page.wait_for_function("() => window.__decision").json_value()
    return decision


def download(page: Page) -> None:
    with page.expect_download():
        page.get_by_role("link", name="Brochure (PDF)").click()


def go_out(page: Page) -> None:
    with page.expect_navigation(url=OUTLINK):
        page.get_by_role("link", name="Brake maker").click()


def switch_tab(page: Page, *, back: bool = False) -> None:
    """What the browser tells a page when the visitor switches to another tab (or ``back`` to it).

    Headless chromium never hides a page, not even behind another tab or in a minimised window, so
    the page is told as the browser would tell it. Leaving by navigation or closing does hide it, but
    the beacon of a page being unloaded escapes Playwright's interception: it would reach the gateway
    without the context's user agent (``HeadlessChrome``: dropped as a bot) and forwarded address.
    """
    page.evaluate(
        """(hidden) => {
        for (const [name, value] of [["hidden", hidden], ["visibilityState", hidden ? "hidden" : "visible"]])
            Object.defineProperty(document, name, {configurable: true, get: () => value});
        document.dispatchEvent(new Event("visibilitychange", {bubbles: true}));
    }""",
        not back,
    )


def be_active(page: Page, seconds: float) -> None:
    """A reader: moves the pointer and scrolls, four times a second."""
    for step in range(round(seconds * 4)):
        page.mouse.move(300 + 40 * (step % 8), 200 + 15 * (step % 5))
        page.mouse.wheel(0, 60 if step % 2 else -60)
        page.wait_for_timeout(250)


def visits(db: Database, visitor_id: int) -> list[dict[str, Any]]:
    """The visitor's visits as the dashboards cut them (gateway/stats/visits.py)."""
    [(now,)] = db.query("SELECT now64(3)")
    sql = f"SELECT duration, actions, pageviews FROM ({VISITS}) WHERE visitor_id = {{v:UInt64}}"
    window = {"start": now - timedelta(hours=1), "end": now + timedelta(hours=1)}
    rows = db.query(sql, {"site": 1, **window, "timeout_ms": DEFAULT_TIMEOUT * 1000, "v": visitor_id})
    return [dict(zip(("duration", "actions", "pageviews"), row, strict=True)) for row in rows]


def test_nothing_is_sent_or_written_before_a_decision_nor_after_reject_all(
    page: Page, context: BrowserContext, site: FixtureSite, db: Database, prefix: str
) -> None:
    sent = tracking_requests(context)
    context.add_init_script(WATCH_STORAGE)
    serve_files(context, site, prefix)
    queued = '["enableLinkTracking"], ["enableHeartBeatTimer", 1], ["trackEvent", "Catalogue", "Early"]'
    open_tracked(page, site, prefix + "catalogue.html", tracked_page("Brake pads", paq=queued, body=LINKS))
    expect(page.get_by_role("dialog", name="We value your privacy")).to_be_visible()

    # No decision yet: the page tracks a search and a basket, the visitor clicks a download, switches
    # to another tab (leaving, a ping would be due) and back.
    push(page, ["trackSiteSearch", "pads"], ["trackEvent", "Basket", "Add", "Front brake pads"])
    download(page)
    switch_tab(page)
    switch_tab(page, back=True)
    assert sent == []

    assert reject_all(page)["categories"] == ["necessary"]
    push(page, ["trackPageView"], ["trackEvent", "Basket", "Add", "Rear brake discs"], ["trackGoal", 1, 99])
    download(page)
    switch_tab(page)
    switch_tab(page, back=True)
    assert sent == []
    assert page.evaluate(STORAGE) == NOTHING_STORED
    assert page.evaluate("() => window.__before") == {"cookie": "", "local": {}, "session": {}}

    # The visitor changes their mind on this page: the tracker starts again with one pageview. Had it
    # kept any call from before (the early event, the search, the baskets, the downloads), those
    # would be stored before the control event.
    in_turn(page, lambda: accept(page), lambda: push(page, ["trackEvent", "Control", "After the grant"]))
    rows = wait_for_events(db, prefix=prefix, count=2)
    assert [(row["event_type"], row["event_category"]) for row in rows] == [
        ("pageview", ""),
        ("event", "Control"),
    ]
    assert [urlsplit(request.url).path for request in sent] == ["/t", "/t"]
    # Not even after consent: the consent is the gateway's HttpOnly cookie, which the page cannot see.
    assert page.evaluate(STORAGE) == NOTHING_STORED


def test_accept_all_stores_the_pageview_with_place_browser_screen_language_and_referrer(
    page: Page, context: BrowserContext, browser: Browser, site: FixtureSite, db: Database, prefix: str
) -> None:
    sent = tracking_requests(context)
    open_tracked(page, site, prefix + "brake-pads.html", CATALOGUE, referer="https://www.google.com/")
    assert sent == []
    with settled(page):
        accept(page)
    [row] = wait_for_events(db, prefix=prefix, count=1)
    assert row["event_type"] == "pageview"
    assert (row["url_path"], row["title"]) == (f"{prefix}brake-pads.html", "Brake pads")
    assert (row["country_code"], row["subdivision_code"], row["city_name"]) == BERLIN_CITY
    # The full version comes from the client hints t.js asks for (the UA string has the major only).
    assert (row["browser_name"], row["browser_version"]) == ("Chromium", browser.version)
    assert (row["os_name"], row["device_type"]) == ("Linux", "desktop")
    assert (row["screen_width"], row["screen_height"]) == SCREEN
    assert row["language"] == "en-GB"
    assert (row["referrer_type"], row["referrer_name"], row["referrer_host"]) == (
        "search",
        "Google",
        "www.google.com",
    )
    assert row["consent_id"] == uuid.UUID(page.evaluate("() => ConsentGateway.get().consent_id"))
    assert row["pageview_id"] == parameter(sent[0], "pv_id") != ""
    [request] = sent
    assert (urlsplit(request.url).path, request.method, request.post_data) == ("/t", "POST", None)


def test_events_downloads_and_outlinks_belong_to_their_pageview(
    page: Page, context: BrowserContext, site: FixtureSite, db: Database, prefix: str
) -> None:
    serve_files(context, site, prefix)
    open_tracked(page, site, prefix + "catalogue.html", CATALOGUE)
    basket = ["trackEvent", "Basket", "Add", "Front brake pads", 2]
    in_turn(page, lambda: accept(page), lambda: push(page, basket), lambda: download(page))
    page.get_by_role("link", name="Write to us").click()  # mailto: is never sent
    in_turn(page, lambda: go_out(page))  # its beacon outlives the page
    rows = wait_for_events(db, prefix=prefix, count=4)
    assert [row["event_type"] for row in rows] == ["pageview", "event", "download", "outlink"]
    pageview, event, brochure, outlink = rows
    assert (event["event_category"], event["event_action"], event["event_name"], event["event_value"]) == (
        "Basket", "Add", "Front brake pads", 2.0,
    )  # fmt: skip
    # The fixture site's address is an address all the same: the gateway stores none.
    assert brochure["link_url"] == f"http://[ip]:{urlsplit(site.base).port}{prefix}brochure.pdf"
    assert outlink["link_url"] == OUTLINK
    assert {row["pageview_id"] for row in rows} == {pageview["pageview_id"]} != {""}
    assert {row["url_path"] for row in rows} == {f"{prefix}catalogue.html"}


def test_a_search_results_page_is_viewed_as_its_site_search(
    page: Page, context: BrowserContext, site: FixtureSite, db: Database, prefix: str
) -> None:
    queued = '["trackSiteSearch", "brake pads", "Parts", 12], ["trackEvent", "Search", "Sort", "Price"]'
    open_tracked(
        page, site, prefix + "search.html", tracked_page("Search", paq=queued), query="?q=brake+pads"
    )
    with settled(page, 2):
        accept(page)
    rows = wait_for_events(db, prefix=prefix, count=2)  # sent at once: they may arrive in either order
    by_type = {row["event_type"]: row for row in rows}
    assert sorted(by_type) == ["event", "site_search"]  # and no pageview: the search is the page's view
    search, event = by_type["site_search"], by_type["event"]
    assert (search["search_keyword"], search["search_category"], search["search_count"]) == (
        "brake pads",
        "Parts",
        12,
    )
    assert (search["url_path"], search["url_query"]) == (f"{prefix}search.html", "q=brake+pads")
    assert event["pageview_id"] == search["pageview_id"] != ""


# The app: routes change the URL with pushState and set the title right after, as routers do.
SPA = """<script>
const titles = {"PREFIXapp/": "Shop", "PREFIXapp/parts": "Parts", "PREFIXapp/parts/brakes": "Brakes"};
function route(path) { history.pushState({}, "", path); document.title = titles[path]; }
addEventListener("popstate", () => { document.title = titles[location.pathname]; });
</script>"""


def test_single_page_app_navigations_are_pageviews_but_hash_changes_are_not(
    page: Page, context: BrowserContext, site: FixtureSite, db: Database, prefix: str
) -> None:
    sent = tracking_requests(context)
    open_tracked(
        page, site, prefix + "app/", tracked_page("Shop", body=SPA.replace("PREFIX", prefix), spa=True)
    )
    base = site.base + prefix

    def navigate(action: Callable[[], Any], path: str) -> None:
        # One at a time: the gateway stamps a hit when it arrives, and rows are read in that order.
        with page.expect_response(
            lambda response: is_tracking(response.url) and parameter(response, "url") == base + path
        ):
            action()

    navigate(lambda: accept(page), "app/")
    navigate(lambda: page.evaluate(f"route('{prefix}app/parts')"), "app/parts")
    navigate(lambda: page.evaluate(f"route('{prefix}app/parts/brakes')"), "app/parts/brakes")
    navigate(lambda: page.evaluate("history.back()"), "app/parts")  # popstate
    page.evaluate("() => { location.hash = 'reviews'; history.pushState({}, '', '#specs'); }")
    with settled(page):
        push(page, ["trackEvent", "Control", "After the hash changes"])
    rows = wait_for_events(db, prefix=prefix, count=5)
    assert [(row["event_type"], row["url_path"], row["title"]) for row in rows] == [
        ("pageview", f"{prefix}app/", "Shop"),
        ("pageview", f"{prefix}app/parts", "Parts"),
        ("pageview", f"{prefix}app/parts/brakes", "Brakes"),
        ("pageview", f"{prefix}app/parts", "Parts"),
        ("event", f"{prefix}app/parts", ""),
    ]
    assert len({row["pageview_id"] for row in rows[:4]}) == 4
    assert rows[4]["pageview_id"] == rows[3]["pageview_id"]
    assert len(sent) == 5
    # Each navigation's referrer is the app's previous page (internal, so stored as direct).
    assert [parameter(request, "urlref") for request in sent[1:4]] == [
        base + "app/", base + "app/parts", base + "app/parts/brakes"
    ]  # fmt: skip


def test_after_withdrawal_nothing_more_is_sent_or_stored(
    page: Page,
    context: BrowserContext,
    visitor: Callable[[], Page],
    site: FixtureSite,
    gateway: Gateway,
    db: Database,
    prefix: str,
) -> None:
    sent = tracking_requests(context)
    serve_files(context, site, prefix)
    open_tracked(page, site, prefix + "catalogue.html", CATALOGUE)
    in_turn(
        page, lambda: accept(page), lambda: push(page, ["trackEvent", "Basket", "Add", "Front brake pads"])
    )
    consent_id = uuid.UUID(page.evaluate("() => ConsentGateway.get().consent_id"))
    before = wait_for_events(db, prefix=prefix, count=2)
    assert [row["event_type"] for row in before] == ["pageview", "event"]

    assert withdraw(page)["categories"] == ["necessary"]
    requests, dropped = len(sent), counter(gateway, "hits_dropped", "no-consent")
    push(
        page,
        ["trackPageView"],
        ["trackEvent", "Basket", "Add", "Rear brake discs"],
        ["trackSiteSearch", "discs"],
    )
    download(page)
    go_out(page)

    # A later visitor who accepts is stored: by then the withdrawn visitor's hits would have been too.
    other = visitor()
    open_tracked(other, site, prefix + "control.html", CATALOGUE)
    with settled(other):
        accept(other)
    wait_for_events(db, "url_path = {p:String}", {"p": f"{prefix}control.html"}, count=1)
    assert events(db, "consent_id = {c:UUID}", {"c": consent_id}) == before
    assert len(sent) == requests  # the tracker stopped: nothing left the browser
    assert counter(gateway, "hits_dropped", "no-consent") == dropped


def test_heartbeat_pings_on_leaving_the_page_extend_the_visit(
    visitor: Callable[[], Page], site: FixtureSite, db: Database, prefix: str
) -> None:
    html = tracked_page("Brake pads", paq='["enableHeartBeatTimer", 1]', body="<p>Front pads.</p>" * 100)
    pages = {name: visitor() for name in ("reader.html", "idle.html", "hasty.html")}
    for name, page in pages.items():
        open_tracked(page, site, prefix + name, html)
        with settled(page):
            accept(page)
        if name == "hasty.html":  # at once: on a loaded machine the other pages' set-up takes seconds
            switch_tab(page)
    reader = pages["reader.html"]
    # One switches to another tab within a second of the pageview, one leaves the tab open, and one
    # reads for two seconds, then switches.
    be_active(reader, 2.0)
    with settled(reader):
        switch_tab(reader)
    wait_for_events(db, "event_type = 'ping'", prefix=prefix, count=1)
    by_page = {name: events(db, "url_path = {p:String}", {"p": prefix + name}) for name in pages}
    assert {name: [row["event_type"] for row in rows] for name, rows in by_page.items()} == {
        "reader.html": ["pageview", "ping"], "hasty.html": ["pageview"], "idle.html": ["pageview"]
    }  # fmt: skip
    pageview, ping = by_page["reader.html"]
    assert ping["pageview_id"] == pageview["pageview_id"] != ""  # it keeps that view open
    assert ping["ts"] - pageview["ts"] >= timedelta(seconds=2)
    [with_ping] = visits(db, pageview["visitor_id"])
    [without] = visits(db, by_page["idle.html"][0]["visitor_id"])
    assert without["duration"] == 0
    assert with_ping["duration"] >= 2  # the reading time
    assert (with_ping["actions"], with_ping["pageviews"]) == (1, 1)  # a ping is no action
