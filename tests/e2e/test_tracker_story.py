"""Story: a visitor lands on the demo page, accepts, and the pageview is counted at once, without an IP.

The gateway runs as ``./scripts/serve`` runs it: no configuration file, so it serves the demo site
and its ``/demo/`` page (the banner and ``t.js``, under a strict Content-Security-Policy), with the
writer's default flush interval, behind a trusted reverse proxy that forwards the visitor's address
(a Berlin address of the tiny GeoIP database). Its ClickHouse is the chDB-backed HTTP stand-in, so
the test reads the rows while the gateway runs, as ``tests/tracker/conftest.py`` does.

The visitor is Debian's chromium. The test waits for the pageview to be queryable in ClickHouse, up
to a generous ceiling, and prints how long it took from the click on "Accept all" (~1.5 s on an idle
machine: the decision, the hit, then the writer's 1 s flush interval). It asserts no timing: a
slow CI machine must not fail a story that works, and speed is a benchmark's job. Then the address
is looked for everywhere it could have been left: every string in every ClickHouse table, the
gateway's log, and every file under its data folder (the write-ahead spool still holds the rows
while the gateway runs).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from gateway.storage.clickhouse import Database, connect
from tests.e2e.gateway_process import Gateway, running_gateway
from tests.geoip_fixture import BERLIN
from tests.support.clickhouse_standin import running_standin
from tests.support.privacy import IP_SHAPED, ip_shaped_values
from tests.tracker.conftest import VISITOR_IP, events, new_context

CEILING = 60.0  # seconds from the click to the row before the test gives up (idle: ~1.5 s)
TIMES = re.compile(r"\b\d{2}:\d{2}:\d{2}([.,]\d+)?\b")  # 23:40:33 looks like an IPv6 address


@pytest.fixture
def served(tmp_path: Path, city_db: Path) -> Iterator[tuple[Gateway, Database, Path]]:
    """The gateway on its defaults (the demo site), its database as the test reads it, its data folder."""
    data = tmp_path / "data"
    with running_standin(tmp_path / "clickhouse") as standin:
        url = f"http://default:@{standin.host}:{standin.port}/story"
        env = {
            "GATEWAY_DATA_DIR": str(data),
            "GATEWAY_CLICKHOUSE_URL": url,
            "GATEWAY_GEOIP_CITY_DB": str(city_db),
            "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
        }
        with running_gateway(env, tmp_path / "serve.log") as gateway:
            db = connect(url, create_database=False, connect_timeout=2, send_receive_timeout=10)
            try:
                yield gateway, db, data
            finally:
                db.close()


@pytest.fixture
def page(browser: Browser, served: tuple[Gateway, Database, Path]) -> Iterator[Page]:
    """A visitor from Berlin, as in the tracker's browser tests (a route adds the forwarded address)."""
    context = new_context(browser, user_agent(browser), served[0])
    yield context.new_page()
    context.close()


def user_agent(browser: Browser) -> str:
    """This chromium's user agent without the ``Headless`` marker the gateway drops as a bot."""
    context = browser.new_context()
    agent: str = context.new_page().evaluate("() => navigator.userAgent")
    context.close()
    return agent.replace("HeadlessChrome/", "Chrome/")


def first_pageview(page: Page, db: Database, deadline: float) -> dict[str, Any] | None:
    """The demo page's pageview once queryable, or None at ``deadline`` (``time.monotonic()``)."""
    while time.monotonic() < deadline:
        rows = events(db, "event_type = 'pageview' AND url_path = '/demo/'")
        if rows:
            return rows[0]
        page.wait_for_timeout(20)  # a Playwright call, not a sleep: the context's route runs meanwhile
    return None


def ip_shaped(text: str) -> list[str]:
    return [match.group(0) for match in re.finditer(IP_SHAPED, TIMES.sub("", text))]


def test_a_visitor_accepts_on_the_demo_page_and_is_counted_without_an_ip(
    served: tuple[Gateway, Database, Path], browser: Browser, page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway, db, data = served
    page.goto(f"{gateway.base}/demo/")
    first_layer = page.get_by_role("dialog", name="We value your privacy")
    expect(first_layer).to_be_visible()
    page.wait_for_function("() => !Array.isArray(window._paq)")  # t.js runs, and waits
    assert events(db) == []

    answered: dict[str, float] = {}  # when the decision and the hit were answered (to within 20 ms)

    def record(response: Response) -> None:
        answered.setdefault(urlsplit(response.url).path, time.monotonic())

    page.on("response", record)
    started = time.monotonic()
    first_layer.get_by_role("button", name="Accept all").click()
    row = first_pageview(page, db, started + CEILING)
    elapsed = time.monotonic() - started
    steps = ", ".join(
        f"{path} answered at {answered[path] - started:.2f} s"
        for path in ("/consent", "/t")
        if path in answered
    )
    with capsys.disabled():
        print(f"\nfrom the click on Accept all to the pageview in ClickHouse: {elapsed:.2f} s ({steps})")
    assert row is not None, f"no pageview in {CEILING:.0f} s"

    expect(page.locator("#consent-state")).to_contain_text("Allowed: analytics")
    assert row["consent_id"] == uuid.UUID(page.evaluate("() => ConsentGateway.get().consent_id"))
    assert row["title"] == "Demo parts catalogue · consent-gateway"
    assert (row["country_code"], row["subdivision_code"], row["city_name"]) == (
        BERLIN.country_code, BERLIN.subdivision_code, BERLIN.city_names["en"],
    )  # fmt: skip
    agent = (row["browser_name"], row["browser_version"], row["os_name"], row["device_type"])
    assert agent == ("Chromium", browser.version, "Linux", "desktop")

    # No IP anywhere: not in ClickHouse (the page's own host, 127.0.0.1, is stored as "[ip]"),
    columns, found = ip_shaped_values(db)
    assert columns > 40
    assert found == [], f"IP-like values stored: {found}"
    assert row["url_host"].startswith("[ip]:")
    # not in any file under the data folder, the spool included while it still holds the rows,
    files = {
        path.relative_to(data).as_posix(): path.read_bytes() for path in data.rglob("*") if path.is_file()
    }
    spooled = b"".join(body for name, body in files.items() if name.startswith("spool/"))
    assert b"/demo/" in spooled, f"the spool holds no rows: {sorted(files)}"
    for name, body in files.items():
        assert VISITOR_IP.encode() not in body, name
        assert ip_shaped(body.decode("latin-1")) == [], name
    # and not in the log: its only addresses are the gateway's own and ClickHouse's, at start-up.
    log = gateway.log
    assert VISITOR_IP not in log
    assert "GET /demo/{file} 200 " in log  # requests are logged by route, without query string or sender;
    assert "POST /t " not in log  # tracking hits answered 2xx are counted instead (docs/operating.md#logs)
    for line in log.splitlines():
        if ip_shaped(line):
            assert set(ip_shaped(line)) == {"127.0.0.1"} and "gateway.access" not in line, line
