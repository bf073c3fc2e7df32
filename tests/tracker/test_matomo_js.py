"""The official matomo.js, pointed at the gateway: its request shapes, stored only after consent.

matomo.js is not ours to ship, so it is not here: each test replays, from a real page of the
fixture site that runs our real banner, the requests matomo.js 5 sends with ``setTrackerUrl`` set
to the gateway. Every request goes through ``navigator.sendBeacon`` with a Blob of type
``application/x-www-form-urlencoded; charset=UTF-8``, as matomo.js does it:

- a hit: an empty Blob, every parameter in the query string (``idsite``, ``rec``, ``action_name``,
  ``url``, ``res``, ``pv_id``, ``_id``, ``uadata``, ``send_image=0``...);
- its bulk queue: one body ``{"requests":["?idsite=1&rec=1&...","?..."],"send_image":0}``;
- heartbeat pings: ``ping=1`` with the pv_id of the page view they keep open.

The browser attaches what it would for matomo.js: the gateway's consent cookie (same site), the user
agent and the page's origin; a trusted-proxy header places the visitor in Berlin.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from playwright.sync_api import Browser, Page, expect

from gateway.stats.visits import DEFAULT_TIMEOUT, VISITS
from gateway.storage.clickhouse import Database
from tests.e2e.gateway_process import Gateway
from tests.geoip_fixture import BERLIN
from tests.support.browser import FixtureSite
from tests.support.privacy import ip_shaped_values
from tests.tracker.conftest import SCREEN, VISITOR_IP, accept, counter, events, wait_for_events, withdraw

PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Brake pads</title>'
    '<script src="{gateway}/banner.js" data-site="1" async></script></head>'
    "<body><h1>Brake pads</h1></body></html>"
)
# The parameters matomo.js puts on every request (its getRequest), from the page it runs on, after
# the request's own ones (action_name=..., e_c=..., ping=1). Values are encodeURIComponent'ed.
QUERIES = """
async ({hits, pvId}) => {
  const ua = await navigator.userAgentData.getHighEntropyValues(
    ["brands", "model", "platform", "platformVersion", "uaFullVersion", "fullVersionList"]);
  const uadata = {brands: ua.brands, fullVersionList: ua.fullVersionList, mobile: ua.mobile,
                  model: ua.model, platform: ua.platform, platformVersion: ua.platformVersion};
  const now = new Date();
  const common = {idsite: 1, rec: 1, r: String(Math.random()).slice(2, 8), h: now.getHours(),
    m: now.getMinutes(), s: now.getSeconds(), url: location.href, urlref: document.referrer,
    _id: "5f3a0c2b9d8e7f61", _idn: 1, _refts: 0, send_image: 0, cookie: 1,
    res: screen.width + "x" + screen.height, pv_id: pvId, uadata: JSON.stringify(uadata)};
  const encode = (params) => Object.entries(params)
    .map(([name, value]) => name + "=" + encodeURIComponent(value)).join("&");
  return hits.map((own) => encode(own) + "&" + encode(common));
}
"""
FORM = "application/x-www-form-urlencoded; charset=UTF-8"
SEND_BEACON = """({url, body, type}) => navigator.sendBeacon(url, new Blob(body ? [body] : [], {type}))"""
PAGEVIEW = {"action_name": "Brake pads"}
EVENT = {"e_c": "Basket", "e_a": "Add", "e_n": "Front brake pads"}
PING = {"ping": 1}
BERLIN_CITY = (BERLIN.country_code, BERLIN.subdivision_code, BERLIN.city_names["en"])


def pv_id() -> str:
    """matomo.js's page view id: six random letters and digits, new for every page view."""
    return "".join(random.choices(string.ascii_letters + string.digits, k=6))


def open_catalogue(page: Page, site: FixtureSite, prefix: str, name: str = "catalogue.html") -> None:
    page.goto(site.add(prefix + name, PAGE))
    page.wait_for_function("() => window.ConsentGateway && ConsentGateway.get() !== null")


def queries(page: Page, hits: list[dict[str, Any]], pv: str) -> list[str]:
    """The query strings matomo.js would build on this page for these hits."""
    built: list[str] = page.evaluate(QUERIES, {"hits": hits, "pvId": pv})
    return built


def query(page: Page, own: dict[str, Any], pv: str) -> str:
    return queries(page, [own], pv)[0]


def beacon(page: Page, url: str, body: str = "") -> int:
    """Send one beacon as matomo.js does; the status the gateway answered with."""
    with page.expect_response(lambda response: response.url == url) as answer:
        queued = page.evaluate(SEND_BEACON, {"url": url, "body": body, "type": FORM})
    assert queued is True
    return answer.value.status


def hit(page: Page, gateway: Gateway, parameters: str) -> int:
    """matomo.js's default: POST, empty body, everything in the query string."""
    return beacon(page, f"{gateway.base}/matomo.php?{parameters}")


def bulk(page: Page, gateway: Gateway, batch: list[str]) -> int:
    """matomo.js's queue (``enableQueueRequest``), flushed as one bulk POST."""
    body = '{"requests":["?' + '","?'.join(batch) + '"],"send_image":0}'
    return beacon(page, f"{gateway.base}/matomo.php", body)


def one_of_each(page: Page, gateway: Gateway) -> list[int]:
    """A page view hit, a bulk of a page view and an event, then a heartbeat ping: 4 hits."""
    first, second = pv_id(), pv_id()
    return [
        hit(page, gateway, query(page, PAGEVIEW, first)),
        bulk(page, gateway, queries(page, [PAGEVIEW, EVENT], second)),
        hit(page, gateway, query(page, PING, second)),
    ]


def visits(db: Database, visitor_id: int) -> list[dict[str, Any]]:
    """The visitor's visits as the dashboards cut them (gateway/stats/visits.py)."""
    [(now,)] = db.query("SELECT now64(3)")
    sql = f"SELECT visitor_id, duration, actions, pageviews FROM ({VISITS}) WHERE visitor_id = {{v:UInt64}}"
    window = {"start": now - timedelta(hours=1), "end": now + timedelta(hours=1)}
    rows = db.query(sql, {"site": 1, **window, "timeout_ms": DEFAULT_TIMEOUT * 1000, "v": visitor_id})
    return [dict(zip(("visitor_id", "duration", "actions", "pageviews"), row, strict=True)) for row in rows]


def test_matomo_js_hits_are_stored_only_while_analytics_is_granted(
    page: Page,
    visitor: Callable[[], Page],
    site: FixtureSite,
    gateway: Gateway,
    db: Database,
    browser: Browser,
    prefix: str,
) -> None:
    open_catalogue(page, site, prefix)
    expect(page.get_by_role("dialog", name="We value your privacy")).to_be_visible()

    # Before any decision: answered like any hit (no oracle), counted as dropped, nothing stored.
    dropped = counter(gateway, "hits_dropped", "no-consent")
    missing = counter(gateway, "consent_cookie", "missing")
    assert one_of_each(page, gateway) == [204, 204, 204]
    assert counter(gateway, "hits_dropped", "no-consent") == dropped + 4
    assert counter(gateway, "consent_cookie", "missing") == missing + 4  # no cookie: nothing to gate on

    decision = accept(page)
    assert "analytics" in decision["categories"]
    assert one_of_each(page, gateway) == [204, 204, 204]
    rows = wait_for_events(db, prefix=prefix, count=4)
    # The later hits arrived and the earlier ones are not among them: they never reached the writer.
    assert sorted(row["event_type"] for row in rows) == ["event", "pageview", "pageview", "ping"]
    consent_id = uuid.UUID(decision["consent_id"])
    for row in rows:
        assert row["consent_id"] == consent_id  # the consent cookie travelled with each beacon
        assert (row["country_code"], row["subdivision_code"], row["city_name"]) == BERLIN_CITY
        # Family and full version from matomo.js's uadata (the UA string has the major version only).
        assert (row["browser_name"], row["browser_version"]) == ("Chromium", browser.version)
        assert (row["os_name"], row["device_type"]) == ("Linux", "desktop")
        assert (row["screen_width"], row["screen_height"]) == SCREEN
        assert row["language"] == "en-GB"  # matomo.js sends no lang: the browser's Accept-Language
        assert row["url_path"] == f"{prefix}catalogue.html"
        assert row["referrer_type"] == "direct"
    assert len({row["visitor_id"] for row in rows}) == 1
    pageviews = [row for row in rows if row["event_type"] == "pageview"]
    assert [row["title"] for row in pageviews] == ["Brake pads", "Brake pads"]
    [event] = [row for row in rows if row["event_type"] == "event"]
    assert (event["event_category"], event["event_action"], event["event_name"]) == tuple(EVENT.values())
    [ping] = [row for row in rows if row["event_type"] == "ping"]
    assert ping["pageview_id"] == event["pageview_id"] != pageviews[0]["pageview_id"]

    withdrawal = withdraw(page)
    assert "analytics" not in withdrawal["categories"]
    dropped = counter(gateway, "hits_dropped", "no-consent")
    not_granted = counter(gateway, "consent_cookie", "not-granted")
    assert one_of_each(page, gateway) == [204, 204, 204]
    assert counter(gateway, "hits_dropped", "no-consent") == dropped + 4
    assert counter(gateway, "consent_cookie", "not-granted") == not_granted + 4

    # A later visitor who accepts is stored: by then the withdrawn visitor's hits would be too.
    other = visitor()
    open_catalogue(other, site, prefix, "control.html")
    accept(other)
    assert hit(other, gateway, query(other, PAGEVIEW, pv_id())) == 204
    wait_for_events(db, "url_path = {p:String}", {"p": f"{prefix}control.html"}, count=1)
    assert events(db, "consent_id = {c:UUID}", {"c": consent_id}) == rows

    found = ip_shaped_values(db)[1]
    assert found == [], f"IP-like values stored: {found}"
    assert VISITOR_IP not in gateway.log


def test_heartbeat_pings_extend_the_visit(
    page: Page, site: FixtureSite, gateway: Gateway, db: Database, prefix: str
) -> None:
    open_catalogue(page, site, prefix)
    accept(page)
    pv = pv_id()
    assert hit(page, gateway, query(page, PAGEVIEW, pv)) == 204
    [pageview] = wait_for_events(db, prefix=prefix, count=1)
    assert visits(db, pageview["visitor_id"])[0]["duration"] == 0  # one hit: a visit of no length yet
    page.wait_for_timeout(2500)  # the page stays open; matomo.js would ping after 15 s of it
    assert hit(page, gateway, query(page, PING, pv)) == 204
    first, ping = wait_for_events(db, prefix=prefix, count=2)
    assert (first["event_type"], ping["event_type"]) == ("pageview", "ping")
    assert ping["pageview_id"] == pv and ping["visitor_id"] == first["visitor_id"]
    assert ping["ts"] - first["ts"] >= timedelta(seconds=2.4)
    [visit] = visits(db, first["visitor_id"])
    assert visit["duration"] >= 2.4  # the ping made the visit last
    assert (visit["actions"], visit["pageviews"]) == (1, 1)  # and is no action of its own
    assert (ping["country_code"], ping["subdivision_code"], ping["city_name"]) == BERLIN_CITY
