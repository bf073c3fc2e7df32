"""Fixtures for the tracker's browser tests: the real gateway, a ClickHouse the test reads, chromium.

The gateway is the real ``consent-gateway serve`` subprocess. Its ClickHouse must be readable by the
test while it runs, and chDB binds one data folder per process, so the gateway does not embed it:
it talks to the chDB-backed ClickHouse HTTP stand-in (``tests/support/clickhouse_standin.py``), and
the test queries the same database through the same URL (``db``).

The visitor comes from Berlin: the gateway trusts 127.0.0.1 as its reverse proxy, and each context
routes every request to the gateway through a handler that continues it with ``X-Forwarded-For:
BERLIN.sample_ip`` added, as a proxy would add it. Not Playwright's ``extra_http_headers``: Chromium
does put those on ``navigator.sendBeacon`` requests (no-cors, so no preflight), but also on the
banner's credentialed CORS ``fetch``, which the header makes non-simple; its preflight asks for
``x-forwarded-for``, the gateway rightly does not allow it, and the banner fails closed. A route
changes the request below CORS; it catches beacons (resource type ``ping``) too, and
``all_headers()`` keeps the consent cookie the browser attached. The context also presents the
same chromium's user agent without the ``Headless`` marker: the gateway rightly drops
``HeadlessChrome`` hits as bots. Client hints (``navigator.userAgentData``, ``Sec-CH-UA``) are left
alone; they already say Chromium, with the real full version.

Isolation: one gateway per module, so tests share its database. Each test gets its own page path
prefix (``prefix``: ``/test-name/``) on the fixture site and filters rows with ``prefix=`` (on
``url_path``, which every hit carries, pings included), rather than a site per test: a test then
needs nothing but its own pages, and the site configuration stays the one a site owner writes. A
fresh browser context per test also means a fresh visitor (no consent cookie yet).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from gateway.storage.clickhouse import Database, connect
from gateway.storage.schema import EVENTS_TABLE
from tests.e2e.gateway_process import Gateway, running_gateway
from tests.geoip_fixture import BERLIN
from tests.support.clickhouse_standin import StandIn, running_standin
from tests.support.operator import METRICS_TOKEN, OPERATOR_JSON

TOKEN = "tracker-test-site-token-000000001"
POLICY_VERSION = "2026-11"
DATABASE = "tracker"
VISITOR_IP = BERLIN.sample_ip
SCREEN = (1920, 1080)  # width, height
CONFIG = f"""
[[sites]]
id = 1
name = "Parts catalogue"
origins = ["http://127.0.0.1:*", "http://localhost:*"]
policy_version = "{POLICY_VERSION}"
token = "{TOKEN}"
[sites.banner]
privacy_policy_url = "https://parts.example.com/privacy"
[[sites.categories]]
id = "necessary"
[[sites.categories]]
id = "analytics"
services = ["consent-gateway analytics"]
cookies = ["_pk_*"]
[[sites.categories]]
id = "marketing"
services = ["Ads partner"]
cookies = ["ad_test"]
"""
COLUMNS = (*EVENTS_TABLE.columns, "ingested_at")
# Keeps the detail of the banner's next "change" event, its decision, in window.__decision.
AWAIT_DECISION = """() => { window.__decision = null; window.addEventListener("consentgateway:change",
    (event) => { window.__decision = event.detail; }, {once: true}); }"""



@pytest.fixture(scope="module")
def user_agent(browser: Browser) -> str:
    """This chromium's own user agent, less the ``Headless`` marker the gateway drops as a bot."""
    context = browser.new_context()
    try:
        agent: str = context.new_page().evaluate("() => navigator.userAgent")
    finally:
        context.close()
    return agent.replace("HeadlessChrome/", "Chrome/")


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    with running_standin(tmp_path_factory.mktemp("tracker-clickhouse")) as server:
        yield server


@pytest.fixture(scope="module")
def gateway_db_url(standin: StandIn) -> str:
    """The gateway's ClickHouse database, as ``GATEWAY_CLICKHOUSE_URL``."""
    return f"http://default:@{standin.host}:{standin.port}/{DATABASE}"


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, city_db: Path, gateway_db_url: str
) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("tracker-gateway")
    config = folder / "gateway.toml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {
        "GATEWAY_DATA_DIR": str(folder / "data"),
        "GATEWAY_CONFIG": str(config),
        "GATEWAY_CLICKHOUSE_URL": gateway_db_url,
        "GATEWAY_GEOIP_CITY_DB": str(city_db),
        "GATEWAY_SECRET_KEYS": "t" * 48,
        "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
        "GATEWAY_WRITER_FLUSH_INTERVAL": "0.1",
        "GATEWAY_METRICS_TOKEN": METRICS_TOKEN,
    }
    with running_gateway(env, folder / "serve.log") as gateway:
        yield gateway


@pytest.fixture(scope="module")
def db(gateway: Gateway, gateway_db_url: str) -> Iterator[Database]:
    """The gateway's database, read while it runs (after it migrated; overrides the chDB ``db``)."""
    database = connect(gateway_db_url, create_database=False, connect_timeout=2, send_receive_timeout=10)
    yield database
    database.close()



@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """This test's own path on the fixture site: ``/heartbeat-pings-extend-the-visit/`` for
    ``test_heartbeat_pings_extend_the_visit``."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_")).strip("-")
    return f"/{name[:80]}/"


def new_context(browser: Browser, user_agent: str, gateway: Gateway) -> BrowserContext:
    """A fresh visitor from Berlin: no cookies, en-GB, a 1920x1080 screen."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        screen={"width": SCREEN[0], "height": SCREEN[1]},
        locale="en-GB",
        user_agent=user_agent,
    )

    def from_berlin(route: Route) -> None:
        route.continue_(headers=route.request.all_headers() | {"x-forwarded-for": VISITOR_IP})

    context.route(lambda url: url.startswith(f"{gateway.base}/"), from_berlin)
    return context


@pytest.fixture
def context(browser: Browser, user_agent: str, gateway: Gateway) -> Iterator[BrowserContext]:
    context = new_context(browser, user_agent, gateway)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def visitor(browser: Browser, user_agent: str, gateway: Gateway) -> Iterator[Callable[[], Page]]:
    """Makes pages for more visitors in one test, each in its own context like ``page``'s."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        contexts.append(new_context(browser, user_agent, gateway))
        return contexts[-1].new_page()

    yield make
    for context in contexts:
        context.close()


def _where(where: str, params: dict[str, Any] | None, prefix: str) -> tuple[str, dict[str, Any]]:
    clauses = [f"({where})"] if where else []
    bound = dict(params or {})
    if prefix:
        clauses.append("startsWith(url_path, {own_prefix:String})")
        bound["own_prefix"] = prefix
    return " AND ".join(clauses) or "1", bound


def events(
    db: Database, where: str = "", params: dict[str, Any] | None = None, *, prefix: str = ""
) -> list[dict[str, Any]]:
    """Rows of ``events`` in time order, as dicts by column; ``where`` binds ``{name:Type}`` from
    ``params``; ``prefix`` keeps only the rows of pages under that path (one test's own)."""
    condition, bound = _where(where, params, prefix)
    rows = db.query(
        f"SELECT {', '.join(COLUMNS)} FROM events WHERE {condition} ORDER BY ts, event_type", bound
    )
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def wait_for_events(
    db: Database,
    where: str = "",
    params: dict[str, Any] | None = None,
    *,
    count: int,
    prefix: str = "",
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """The matching rows once there are at least ``count`` (polled: the writer flushes every 0.1 s).
    The ceiling is generous because a loaded CI machine can take seconds; a passing test never waits
    for it."""
    deadline = time.monotonic() + timeout
    while True:
        rows = events(db, where, params, prefix=prefix)
        if len(rows) >= count:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(rows)} of {count} rows after {timeout} s: {rows}")
        time.sleep(0.05)


def counter(gateway: Gateway, name: str, reason: str) -> int:
    """One counter of ``/-/metrics``, e.g. ``counter(gateway, "hits_dropped", "no-consent")``."""
    response = httpx.get(f"{gateway.base}/-/metrics", timeout=10, headers=OPERATOR_JSON)
    response.raise_for_status()
    value: int = response.json()["counters"].get(name, {}).get(reason, 0)
    return value


def _decide(page: Page, click: Callable[[], None]) -> dict[str, Any]:
    page.evaluate(AWAIT_DECISION)
    click()
    decision: dict[str, Any] = page.wait_for_function(
        "() => window.__decision", timeout=10_000
    ).json_value()
    return decision


def accept(page: Page) -> dict[str, Any]:
    """Click "Accept all" in the banner's open layer (the settings layer when the first one is not
    shown); returns the decision (``ConsentGateway.get()``) once the banner reported it."""
    page.wait_for_function("() => window.ConsentGateway && ConsentGateway.get() !== null")
    if page.evaluate("() => ConsentGateway.get().decided"):
        page.evaluate("() => ConsentGateway.show()")
    # Role selectors pierce the banner's open shadow root; the hidden layer's buttons do not count.
    return _decide(page, page.get_by_role("button", name="Accept all").click)


def withdraw(page: Page) -> dict[str, Any]:
    """Withdraw as a visitor does after accepting: open the settings layer, "Reject all"."""
    page.evaluate("() => ConsentGateway.show()")
    layer = page.get_by_role("dialog", name="Privacy settings")
    return _decide(page, layer.get_by_role("button", name="Reject all").click)
