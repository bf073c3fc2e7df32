"""The dashboard in Debian's chromium: what a marketing user does and sees, checked against the JSON API.

The server and its data are ``conftest.py``'s (the real app in this process, seeded, clock pinned).
Numbers on the page are compared with the page's JSON twin fetched with the same query, so the
tests hold whatever the seed's exact figures are; hand-made rows give the few exact numbers.
Screenshots for people to look at land in ``artifacts/screenshots/dashboard-*.png``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from playwright.sync_api import ConsoleMessage, Page, expect

from gateway.dashboard.context import FIGURE_LABELS
from gateway.storage.schema import EVENTS_TABLE
from tests.dashboard.conftest import (
    ADMIN,
    LEAVER,
    SITE_2_PAGEVIEWS,
    SITE_2_VISITORS,
    VIEWER,
    Dashboard,
    PageFactory,
    log_in,
)
from tests.support.browser import screenshot_path
from tests.support.clock import bucket_of
from tests.support.dashboard import SITE_1_ZONE, event

KEYS = {label: key for key, label in FIGURE_LABELS.items()}
# Records what the browser says about the Content-Security-Policy, from before the page's own script.
CSP_PROBE = """window.__csp = []; document.addEventListener("securitypolicyviolation",
    (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"""


def figures(page: Page) -> dict[str, str]:
    """The figure cards as shown: ``{"visitors": "1,234", ..., "bounce_rate": "48.2%"}``."""
    cards = page.locator(".figures .figure")
    expect(cards.first).to_be_visible()
    # text_content, not inner_text: the labels are upper-cased by CSS only.
    return {KEYS[(card.locator(".figure-label").text_content() or "").strip()]:
            (card.locator(".figure-value").text_content() or "").strip() for card in cards.all()}


def api(page: Page, path: str) -> tuple[int, Any]:
    """GET ``path`` from inside the page (its session cookie, same origin): status and JSON body."""
    answer: list[Any] = page.evaluate("""async (path) => {
        const r = await fetch(path, {headers: {Accept: "application/json"}});
        return [r.status, await r.json().catch(() => null)]; }""", path)
    return int(answer[0]), answer[1]


def twin(page: Page) -> dict[str, Any]:
    """The JSON twin of the page on screen: the same path with ``.json``, the same query."""
    url = urlsplit(page.url)
    status, body = api(page, f"{url.path}.json" + (f"?{url.query}" if url.query else ""))
    assert status == 200, body
    result: dict[str, Any] = body
    return result


def seconds(text: str) -> int:
    """ "1h 02m", "3m 07s" or "45s" as seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", text))


def assert_figures_match(page: Page) -> dict[str, Any]:
    """Every figure card shows its JSON value, as far as the formatting lets one compare."""
    shown, data = figures(page), twin(page)
    values = {key: figure["value"] for key, figure in data["figures"].items()}
    assert list(shown) == list(values)  # same figures, same order
    for key in ("visitors", "visits", "pageviews"):
        assert int(shown[key].replace(",", "")) == values[key], (key, shown, values)
    if values["views_per_visit"] is None:
        assert shown["views_per_visit"] == "—"
    else:
        assert abs(float(shown["views_per_visit"].replace(",", "")) - values["views_per_visit"]) < 0.0051
    if values["bounce_rate"] is None:
        assert shown["bounce_rate"] == "—"
    else:
        assert shown["bounce_rate"] == f"{values['bounce_rate']:.1f}%"
    if values["avg_duration"] is not None:
        slack = 30 if "h" in shown["avg_duration"] else 0.5  # hours are shown to the minute
        assert abs(seconds(shown["avg_duration"]) - values["avg_duration"]) <= slack, shown
    assert page.locator(".range-label strong").inner_text() == data["range"]["label"]
    return data


def href_query(href: str | None) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(href or "").query))


def query_of(page: Page) -> dict[str, str]:
    return href_query(page.url)


def test_logging_in_through_the_form_leads_to_the_overview(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    page = open_page(state=None)
    page.goto(f"{dashboard.base}/dashboard/1")
    expect(page).to_have_url(re.compile(r"/dashboard/login\?next=%2Fdashboard%2F1$"))
    page.get_by_label("User name").fill(ADMIN)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    log_in(page, dashboard.base, ADMIN, target="/dashboard/1")
    expect(page).to_have_url(f"{dashboard.base}/dashboard/1")
    expect(page.locator(".figures .figure")).to_have_count(len(FIGURE_LABELS))
    expect(page.locator(".user-name")).to_have_text(ADMIN)


def test_the_overview_shows_the_numbers_of_its_json_twin(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    page = open_page()
    page.goto(f"{dashboard.base}/dashboard/1")
    data = assert_figures_match(page)
    assert data["range"]["period"] == "30d"
    assert data["figures"]["visitors"]["value"] > 1000  # the seed, not an empty database
    # The cards load right after the page, each from its report.
    countries = page.locator("#panel-locations tbody tr")
    expect(countries.first).to_be_visible()
    report = page.request.get(f"{dashboard.base}/dashboard/1/reports/countries.json?limit=10").json()
    expect(countries).to_have_count(len(report["rows"]))
    expect(page.locator("[data-autoload][aria-busy]")).to_have_count(0)
    page.screenshot(path=screenshot_path("dashboard-overview-light"), full_page=True)


def test_clicking_a_city_filters_the_dashboard_and_the_chip_removes_it(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    page = open_page()
    page.goto(f"{dashboard.base}/dashboard/1")
    everything = assert_figures_match(page)["figures"]
    card = page.locator("#card-locations")
    with page.expect_response(lambda r: "/reports/cities?" in r.url and "fragment=card" in r.url):
        card.get_by_role("tab", name="Cities").click()
    expect(card.get_by_role("tab", name="Cities")).to_have_attribute("aria-selected", "true")
    expect(card.locator("[role=tabpanel]")).not_to_have_attribute("aria-busy", "true")
    expect(card.locator("caption")).to_have_text("Cities")
    assert page.url == f"{dashboard.base}/dashboard/1"  # the tab swapped the card, no navigation
    rows = [(link, href_query(link.get_attribute("href"))) for link in card.locator("tbody th.label a").all()]
    city_link, city = next((link, query["city"]) for link, query in rows if query.get("city"))
    city_link.click()
    page.wait_for_url(re.compile(r"[?&]city="))
    assert query_of(page)["city"] == city
    expect(page.locator(".chip").filter(has_text="City")).to_contain_text(city)
    filtered = assert_figures_match(page)
    assert filtered["filters"]["city"] == city
    assert filtered["figures"]["visitors"]["value"] < everything["visitors"]["value"]
    expect(page.locator("[data-autoload][aria-busy]")).to_have_count(0)
    page.screenshot(path=screenshot_path("dashboard-filtered"), full_page=True)
    page.get_by_role("link", name=re.compile(f"^Remove filter City: {re.escape(city)}")).click()
    page.wait_for_url(lambda url: "city=" not in url)
    expect(page.locator(".chip").filter(has_text="City")).to_have_count(0)
    assert_figures_match(page)
    if page.locator(".clear-all").count():  # the city row also set its country and region
        page.locator(".clear-all").click()
        page.wait_for_url(f"{dashboard.base}/dashboard/1?period=30d")
    expect(page.locator(".chip")).to_have_count(0)
    assert assert_figures_match(page)["figures"] == everything


def test_changing_the_range_changes_the_url_the_label_and_the_numbers(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    page = open_page()
    page.goto(f"{dashboard.base}/dashboard/1")
    page.locator(".periods").get_by_role("link", name="Last 7 days").click()
    page.wait_for_url(re.compile(r"period=7d"))
    expect(page.locator(".periods").get_by_role("link", name="Last 7 days")).to_have_attribute(
        "aria-current", "page")
    expect(page.locator(".range-label strong")).to_have_text("Last 7 days")
    assert assert_figures_match(page)["range"]["period"] == "7d"

    today = dashboard.now.astimezone(ZoneInfo(SITE_1_ZONE)).date()
    start, end = today - dt.timedelta(days=12), today - dt.timedelta(days=3)
    page.locator(".custom-range summary").click()
    page.get_by_label("From").fill(start.isoformat())
    page.get_by_label("To").fill(end.isoformat())
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"period=custom"))
    assert query_of(page) == {"period": "custom", "from": start.isoformat(), "to": end.isoformat()}
    data = assert_figures_match(page)
    assert (data["range"]["start"], data["range"]["end"]) == (start.isoformat(), end.isoformat())
    expect(page.locator(".range-label strong")).to_contain_text(str(end.day))
    expect(page.locator(".periods [aria-current]")).to_have_count(0)


def test_the_csv_link_downloads_the_reports_rows(open_page: PageFactory, dashboard: Dashboard) -> None:
    page = open_page()
    page.goto(f"{dashboard.base}/dashboard/1?period=7d")
    with page.expect_download() as download:
        page.locator("#card-pages").get_by_role("link", name="CSV of Pages").click()
    day = r"\d{4}-\d\d-\d\d"
    assert re.fullmatch(f"site-1-pages-{day}-{day}\\.csv", download.value.suggested_filename)
    with Path(download.value.path()).open(encoding="utf-8", newline="") as file:
        header, *rows = list(csv.reader(file))
    # The JSON gives at most 1000 rows at a time: read it page by page.
    expected: list[dict[str, Any]] = []
    while True:
        path = f"/dashboard/1/reports/pages.json?period=7d&limit=1000&offset={len(expected)}"
        status, report = api(page, path)
        assert status == 200, report
        expected += report["rows"]
        if not report["has_more"]:
            break
    assert header == [*(column["key"] for column in report["columns"]), "label"]  # the page's name last
    assert len(rows) == len(expected) > 10
    assert rows == [[str(row[key]) for key in header] for row in expected]


def test_a_viewer_sees_only_the_assigned_site(open_page: PageFactory, dashboard: Dashboard) -> None:
    page = open_page(state=None)
    log_in(page, dashboard.base, VIEWER)
    expect(page).to_have_url(f"{dashboard.base}/dashboard/2")
    expect(page.locator(".site-name")).to_have_text("Other shop")
    page.goto(f"{dashboard.base}/dashboard/2?period=today")
    shown = figures(page)
    assert (shown["visitors"], shown["pageviews"]) == (str(SITE_2_VISITORS), str(SITE_2_PAGEVIEWS))
    assert_figures_match(page)
    assert page.locator('a[href^="/dashboard/1"]').count() == 0
    response = page.goto(f"{dashboard.base}/dashboard/1")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text("You do not have access to this site.")
    assert api(page, "/dashboard/1.json")[0] == 403
    assert api(page, "/dashboard/1/reports/pages.json")[0] == 403


def test_logging_out_leads_to_the_login_page_and_ends_the_session(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    page = open_page(state=None)
    log_in(page, dashboard.base, LEAVER, target="/dashboard/1")
    expect(page).to_have_url(f"{dashboard.base}/dashboard/1")
    kept = page.context.storage_state()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/dashboard/login"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.goto(f"{dashboard.base}/dashboard/1")
    expect(page).to_have_url(f"{dashboard.base}/dashboard/login?next=%2Fdashboard%2F1")
    # The cookie from before the logout no longer opens anything either.
    stale = open_page(state=dict(kept))
    stale.goto(f"{dashboard.base}/dashboard/1")
    expect(stale).to_have_url(re.compile(r"/dashboard/login\?next="))


def test_the_overview_runs_without_console_errors_or_csp_violations(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    page = open_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.add_init_script(CSP_PROBE)
    page.goto(f"{dashboard.base}/dashboard/1")
    expect(page.locator("#chart canvas").first).to_be_visible()
    with page.expect_response(lambda r: "fragment=card" in r.url):
        page.locator("#card-devices").get_by_role("tab", name="Operating systems").click()
    expect(page.locator("#panel-devices caption")).to_have_text(re.compile("Operating systems"))
    page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")  # a realtime refresh
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => window.__csp") == []
    assert problems == []


def test_the_chart_draws_and_the_realtime_badge_counts_and_refreshes(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    page = open_page()
    page.goto(f"{dashboard.base}/dashboard/1?period=today")
    chart = page.locator("#chart")
    expect(chart.locator("canvas").first).to_be_visible()
    box = chart.locator("canvas").first.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    expect(chart.locator(".chart-fallback")).to_have_count(0)
    data = twin(page)
    # Hourly for one day, up to the hour "now" falls in (counted from midnight, so a day when summer
    # time starts or ends has an hour less or more before it); the hours still to come are not drawn.
    today = dashboard.now.astimezone(ZoneInfo(SITE_1_ZONE)).date()
    index, now_label = bucket_of(SITE_1_ZONE, today, dashboard.now)
    assert len(data["timeseries"]["labels"]) == index + 1 and data["timeseries"]["present_index"] == index
    last_row = page.locator(".data-table tbody tr").last.locator("th")
    expect(last_row).to_have_text(f"{now_label} (so far)")
    # The last bucket, under the cursor at the chart's right edge, is said to be still filling.
    plot = chart.locator(".u-over").bounding_box()
    assert plot is not None
    page.mouse.move(plot["x"] + plot["width"] - 1, plot["y"] + plot["height"] / 2)
    expect(chart.locator(".u-legend .u-series").first).to_contain_text("(so far)")
    chart.screenshot(path=screenshot_path("dashboard-chart-today"))
    badge = page.locator(".live [data-realtime-field=visitors]")
    live = data["realtime"]["visitors"]
    assert live >= 2  # the two hand-made visitors of the last minutes
    expect(badge).to_have_text(str(live))
    status, realtime = api(page, "/dashboard/1/realtime.json")
    assert status == 200 and realtime["visitors"] == live
    # One more visitor, then the page shows again: the badge refreshes at once from realtime.json.
    dashboard.db.insert("events", [event(10**15 + 3, dashboard.now - dt.timedelta(seconds=30))],
                        list(EVENTS_TABLE.columns))
    page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
    expect(badge).to_have_text(str(live + 1))


def test_the_keyboard_reaches_the_periods_and_the_tabs_and_arrows_move_between_tabs(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    page = open_page()
    page.goto(f"{dashboard.base}/dashboard/1")
    expect(page.locator("#chart canvas").first).to_be_visible()
    reached: list[str] = []
    for _ in range(80):
        page.keyboard.press("Tab")
        where = page.evaluate("""() => { const e = document.activeElement;
            return e.closest('.periods') && e.tagName === 'A' ? 'period:' + e.textContent.trim()
                 : e.getAttribute('role') === 'tab' ? 'tab:' + e.id : ''; }""")
        if where:
            reached.append(where)
        if where.startswith("tab:"):
            break
    assert "period:Last 7 days" in reached
    assert reached[-1] == "tab:tab-pages-pages"  # the selected tab, the others are skipped (tabindex -1)
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-pages-entry_pages")).to_be_focused()
    page.keyboard.press("End")
    expect(page.locator("#tab-pages-exit_pages")).to_be_focused()
    page.keyboard.press("ArrowRight")  # wraps around
    expect(page.locator("#tab-pages-pages")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    with page.expect_response(lambda r: "/reports/exit_pages?" in r.url):
        page.keyboard.press("Enter")
    expect(page.locator("#tab-pages-exit_pages")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-pages caption")).to_have_text("Exit pages")
    page.keyboard.press("Tab")  # from the tab list into the panel
    expect(page.locator("#panel-pages")).to_be_focused()


def test_screenshots_dark_and_mobile(open_page: PageFactory, dashboard: Dashboard) -> None:
    page = open_page(color_scheme="dark")
    page.goto(f"{dashboard.base}/dashboard/1")
    expect(page.locator("#chart canvas").first).to_be_visible()
    expect(page.locator("[data-autoload][aria-busy]")).to_have_count(0)
    page.screenshot(path=screenshot_path("dashboard-overview-dark"), full_page=True)
    mobile = open_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                       has_touch=True)
    mobile.goto(f"{dashboard.base}/dashboard/1")
    expect(mobile.locator("#chart canvas").first).to_be_visible()
    expect(mobile.locator("[data-autoload][aria-busy]")).to_have_count(0)
    overflow = mobile.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    mobile.screenshot(path=screenshot_path("dashboard-mobile"), full_page=True)
    assert overflow <= 0, f"the page is {overflow}px wider than a 390px phone"


def test_an_admin_exports_and_erases_a_visitor_from_the_data_requests_page(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    consent_id, at = str(uuid.uuid4()), dashboard.now - dt.timedelta(days=3)
    dashboard.db.insert("events", [event(10**15 + 21, at, consent_id=uuid.UUID(consent_id)),
                                   event(10**15 + 21, at + dt.timedelta(minutes=1), path="/brakes",
                                         consent_id=uuid.UUID(consent_id))], list(EVENTS_TABLE.columns))
    page = open_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.add_init_script(CSP_PROBE)
    page.goto(f"{dashboard.base}/dashboard/1")
    page.get_by_role("link", name="Data requests").click()
    expect(page).to_have_url(f"{dashboard.base}/dashboard/1/requests")
    page.get_by_label("Consent id").fill(consent_id)
    page.get_by_label("Consent id").press("Enter")  # a plain GET form: no script involved
    expect(page.locator("#event-count")).to_have_text("2")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export", exact=True).click()
    assert download.value.suggested_filename == f"consent-data-1-{consent_id}.json"
    assert json.loads(Path(download.value.path()).read_text(encoding="utf-8"))["event_count"] == 2
    page.get_by_role("button", name="Erase…", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Erase the data of consent id {consent_id}")
    page.get_by_role("button", name="Yes, erase 2 events").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Erased 2 events")
    expect(page.locator("#event-count")).to_have_text("0")
    log = page.get_by_role("table", name=re.compile("data requests for this site"))
    expect(log.locator("tbody tr").first).to_contain_text("Erasure")
    expect(log.locator("tbody tr").first).to_contain_text(f"Dashboard ({ADMIN})")
    expect(log.locator("tbody tr").nth(1)).to_contain_text("Export")
    page.screenshot(path=screenshot_path("dashboard-data-requests"), full_page=True)
    assert page.evaluate("() => window.__csp") == []
    assert problems == []


# At 390 px (a phone): every period link on screen, nothing wider than the screen, long labels cut
# with an ellipsis and whole in the title and the accessible name.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
LONG_PAGE = "/parts/brakes/" + "ventilated-front-brake-discs-with-pads-" * 3 + "set"
LONG_CAMPAIGN = "spring-sale-" + "for-brake-discs-pads-and-callipers-" * 3 + "2026"
# What the page measures: overflow of the document, boxes of the period links, the report's labels.
MEASURE = """() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; };
  const cut = (e) => ({text: e.textContent.trim(), title: e.title || e.querySelector("[title]")?.title,
                       ellipsis: getComputedStyle(e).textOverflow, over: e.scrollWidth > e.clientWidth});
  return {overflow: document.documentElement.scrollWidth - window.innerWidth, width: window.innerWidth,
          periods: [...document.querySelectorAll(".periods a, .custom-range summary")].map(
            (a) => [a.textContent.trim(), ...box(a)]),
          labels: [...document.querySelectorAll(".report-table th.label a")].map(cut),
          chips: [...document.querySelectorAll(".chip-text")].map(cut)};
}"""


def assert_fits_a_phone(page: Page) -> dict[str, Any]:
    shown: dict[str, Any] = page.evaluate(MEASURE)
    assert shown["overflow"] <= 0, f"the page is {shown['overflow']}px wider than a {shown['width']}px phone"
    assert len(shown["periods"]) == 9  # 8 periods and "Custom range"
    for label, left, right, top, bottom in shown["periods"]:
        assert 0 <= left < right <= shown["width"] and bottom > top >= 0, f"{label} is off the screen"
    return shown


def test_at_390px_every_period_shows_and_long_labels_end_in_an_ellipsis_in_both_themes(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    # Today, in the last minutes: read from the events themselves (closed days come from a summary).
    at = dashboard.now - dt.timedelta(minutes=3)
    dashboard.db.insert("events", [event(10**15 + 31, at, path=LONG_PAGE, campaign_name=LONG_CAMPAIGN,
                                         campaign_source="newsletter", referrer_type="campaign")],
                        list(EVENTS_TABLE.columns))
    for scheme in ("light", "dark"):
        page = open_page(color_scheme=scheme, **PHONE)
        page.goto(f"{dashboard.base}/dashboard/1?period=12mo")  # the last period: still on the screen
        expect(page.locator("#chart canvas").first).to_be_visible()
        expect(page.locator("[data-autoload][aria-busy]")).to_have_count(0)
        current = page.locator(".periods [aria-current]")
        expect(current).to_have_text("Last 12 months")
        expect(current).to_be_in_viewport()
        assert_fits_a_phone(page)
        page.screenshot(path=screenshot_path(f"dashboard-390-{scheme}"))
        switcher = page.locator(".switcher")
        switcher.locator("summary").click()
        expect(switcher.locator(".menu-list")).to_be_visible()
        for link in switcher.locator(".menu-list a").all():
            expect(link).to_be_in_viewport(ratio=1)
        assert_fits_a_phone(page)
        switcher.locator("summary").click()
        page.locator(".custom-range summary").click()  # the range form opens under the periods, whole
        form = page.locator(".range-form")
        for field in (form.get_by_label("From"), form.get_by_label("To"), form.get_by_role("button")):
            expect(field).to_be_in_viewport(ratio=1)
        assert_fits_a_phone(page)

        for report, search, full in (("pages", "ventilated", LONG_PAGE),
                                     ("utm_campaigns", "callipers", LONG_CAMPAIGN)):
            page.goto(f"{dashboard.base}/dashboard/1/reports/{report}?period=today&search={search}")
            shown = assert_fits_a_phone(page)
            assert len(shown["labels"]) == 1, shown["labels"]
            assert shown["labels"][0] == {"text": full, "title": full, "ellipsis": "ellipsis", "over": True}
            expect(page.get_by_role("link", name=full, exact=True)).to_be_visible()  # the whole name
        page.screenshot(path=screenshot_path(f"dashboard-390-report-{scheme}"))

        # A long filter as a chip: cut with an ellipsis, whole in its title and in the remove link's name.
        page.goto(f"{dashboard.base}/dashboard/1?{urlencode({'period': 'today', 'page': LONG_PAGE})}")
        shown = assert_fits_a_phone(page)
        chips = [(chip["ellipsis"], chip["over"], chip["title"]) for chip in shown["chips"]]
        assert chips == [("ellipsis", True, LONG_PAGE)]
        expect(page.get_by_role("link", name=f"Remove filter Page: {LONG_PAGE}")).to_be_in_viewport()


def test_the_visits_log_fits_a_phone_in_both_themes_and_agrees_with_its_json(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    at = dashboard.now - dt.timedelta(seconds=2)  # today's newest visit, at any hour: on the first page
    long_path = "/parts/" + "ventilated-front-brake-discs-" * 4 + "log"
    dashboard.db.insert("events", [event(10**15 + 41, at, path=long_path),
                                   event(10**15 + 41, at + dt.timedelta(seconds=1), path="/brakes")],
                        list(EVENTS_TABLE.columns))
    desktop = open_page()
    desktop.add_init_script(CSP_PROBE)
    problems: list[str] = []
    desktop.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    desktop.goto(f"{dashboard.base}/dashboard/1?period=today")
    desktop.get_by_role("link", name="Visits log").click()
    expect(desktop.get_by_role("heading", level=1)).to_have_text("Visits log")
    data = twin(desktop)
    assert data["range"]["period"] == "today" and len(data["visits"]) >= 1
    expect(desktop.locator(".visit")).to_have_count(len(data["visits"]))
    expect(desktop.locator(".visit .step-text", has_text=long_path)).to_have_count(1)
    assert desktop.evaluate("() => window.__csp") == [] and problems == []
    for scheme in ("light", "dark"):
        page = open_page(color_scheme=scheme, **PHONE)
        page.goto(f"{dashboard.base}/dashboard/1/visits?period=today")
        expect(page.locator(".visit").first).to_be_visible()
        assert_fits_a_phone(page)
        step = page.locator(".visit .step-text", has_text=long_path)
        cut = step.evaluate("(e) => [getComputedStyle(e).textOverflow, e.scrollWidth > e.clientWidth, "
                            "e.title]")
        assert cut == ["ellipsis", True, long_path]
        page.screenshot(path=screenshot_path(f"dashboard-390-visits-{scheme}"))


def test_a_note_added_through_the_form_marks_the_chart_and_fits_a_phone_in_both_themes(
    open_page: PageFactory, dashboard: Dashboard
) -> None:
    today = dashboard.now.astimezone(ZoneInfo(SITE_1_ZONE)).date()
    day, note = today - dt.timedelta(days=2), f"Spring newsletter sent {uuid.uuid4().hex[:6]}"
    path = f"/dashboard/1?period=custom&from={today - dt.timedelta(days=6)}&to={today}"
    page = open_page()
    page.add_init_script(CSP_PROBE)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.goto(dashboard.base + path)
    page.locator("#annotation-date").fill(day.isoformat())
    page.locator("#annotation-note").fill(note)
    page.get_by_role("button", name="Add note").click()
    page.wait_for_load_state()
    assert page.url.endswith(path + "#annotations")
    item = page.locator("#annotations li", has_text=note)
    expect(item).to_contain_text(f"({ADMIN})")
    [stored] = [n for n in twin(page)["annotations"] if n["note"] == note]
    assert (stored["date"], stored["author"]) == (day.isoformat(), ADMIN)
    marker = page.locator(f'.chart-note[href="#note-{stored["id"]}"]')
    expect(marker).to_have_attribute("title", re.compile(re.escape(note)))
    chart, mark = page.locator("#chart canvas").first.bounding_box(), marker.bounding_box()
    assert chart is not None and mark is not None
    assert chart["x"] < mark["x"] + mark["width"] / 2 < chart["x"] + chart["width"] * 5 / 6  # not today's
    expect(page.locator(".data-table tbody td", has_text=note)).to_have_count(1)
    assert page.evaluate("() => window.__csp") == [] and problems == []
    marker.hover()
    page.locator(".chart-figure").screenshot(path=screenshot_path("dashboard-annotations"))
    for scheme in ("light", "dark"):
        phone = open_page(color_scheme=scheme, **PHONE)
        phone.goto(dashboard.base + path + "#annotations")
        expect(phone.locator(f'.chart-note[href="#note-{stored["id"]}"]')).to_be_attached()
        phone.locator("#annotations li", has_text=note).locator("summary").click()
        fields = [phone.locator(f"#note-text-{stored['id']}"), phone.locator("#annotation-date"),
                  phone.locator("#annotation-note"), phone.get_by_role("button", name="Add note")]
        for field in fields:  # the page is scrolled to the list: the periods above are not measured
            box = field.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        overflow = phone.evaluate(MEASURE)["overflow"]
        assert overflow <= 0, f"the page is {overflow}px wider than a 390px phone"
        phone.locator("#annotations").screenshot(path=screenshot_path(f"dashboard-390-annotations-{scheme}"))
    # Deleted through its form: gone from the list and the chart.
    item.locator("summary").click()
    item.get_by_role("button", name=re.compile("^Delete")).click()
    page.wait_for_load_state()
    expect(page.locator("#annotations li", has_text=note)).to_have_count(0)
    expect(page.locator(f'.chart-note[href="#note-{stored["id"]}"]')).to_have_count(0)
