"""The dashboard over HTTP: who gets in, what each page and its JSON twin answer, CSV, share links."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from gateway.dashboard.sessions import CSRF_COOKIE, SESSION_COOKIE
from gateway.dashboard.users import UserStore
from gateway.storage.clickhouse import Database
from tests.support.clock import bucket_of, hours_of, local_time
from tests.support.dashboard import DAY, NOW, PASSWORD, RANGE, SITE_1_ZONE, TOKEN_1, TOKEN_2

HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/131.0.0.0 Safari/537.36")  # Playwright's and Puppeteer's default





def log_in(client: TestClient, name: str = "anna", password: str = PASSWORD, next_url: str = "") -> int:
    page = client.get("/dashboard/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/dashboard/login", data={"username": name, "password": password, "csrf": csrf,
                                                   "next": next_url}, follow_redirects=False)
    return answer.status_code


def test_pages_ask_for_a_login_and_the_api_for_credentials(app: TestClient) -> None:
    page = app.get(f"/dashboard/1?{RANGE}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/dashboard/login?next=%2Fdashboard%2F1%3Fperiod")
    api = app.get("/dashboard/1.json")
    assert api.status_code == 401
    assert api.headers["www-authenticate"].startswith("Bearer")


def test_logging_in_sets_a_strict_http_only_session_and_returns_to_the_page(app: TestClient) -> None:
    assert log_in(app, password="wrong password") == 401
    page = app.get("/dashboard/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = app.post("/dashboard/login", data={"username": "anna", "password": PASSWORD, "csrf": csrf,
                                                "next": "/dashboard/1?period=7d"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/1?period=7d"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    overview = app.get("/dashboard/1?period=7d")
    assert overview.status_code == 200
    assert "unsafe-inline" not in overview.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in overview.headers["content-security-policy"]
    assert overview.headers["x-content-type-options"] == "nosniff"
    # The page's CSS and JavaScript: versioned URLs, cached for good.
    for asset, kind in (("css", "text/css"), ("js", "text/javascript")):
        found = re.search(rf'"(/dashboard/static/dashboard\.[0-9a-f]{{12}}\.{asset})"', overview.text)
        assert found is not None
        served = app.get(found.group(1))
        assert served.headers["content-type"].startswith(kind)
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_a_login_form_without_its_csrf_token_is_refused(app: TestClient) -> None:
    app.get("/dashboard/login")
    answer = app.post("/dashboard/login", data={"username": "anna", "password": PASSWORD, "csrf": "forged"},
                      follow_redirects=False)
    assert answer.status_code == 403 and SESSION_COOKIE not in answer.cookies


def test_a_login_never_redirects_to_another_host(app: TestClient) -> None:
    page = app.get("/dashboard/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = app.post("/dashboard/login", data={"username": "anna", "password": PASSWORD, "csrf": csrf,
                                                "next": "//evil.example/dashboard"}, follow_redirects=False)
    assert answer.headers["location"] == "/dashboard"


def test_guessing_passwords_is_throttled_even_when_the_right_one_comes(app: TestClient) -> None:
    for _ in range(5):
        assert log_in(app, password="not the password") == 401
    assert log_in(app) == 429


def test_a_viewer_sees_only_the_assigned_site(app: TestClient) -> None:
    assert log_in(app, "victor") == 303
    assert app.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/2"
    assert app.get(f"/dashboard/2?{RANGE}").status_code == 200
    assert app.get(f"/dashboard/1?{RANGE}").status_code == 403
    assert app.get(f"/dashboard/1.json?{RANGE}").status_code == 403
    assert app.get(f"/dashboard/1/reports/pages.csv?{RANGE}").status_code == 403
    assert app.get("/dashboard.json").json() == {"sites": [
        {"id": 2, "name": "Other shop", "href": "/dashboard/2", "timezone": "UTC"}]}


def test_the_site_token_opens_that_sites_api_and_nothing_else(app: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN_1}"}
    assert app.get(f"/dashboard/1.json?{RANGE}", headers=bearer).status_code == 200
    assert app.get(f"/dashboard/1/reports/pages.csv?{RANGE}", headers=bearer).status_code == 200
    # Another site's token is someone without access (403, as for a viewer), never a wrong token (401);
    # the answer does not say whose token it is.
    for token, site in ((TOKEN_1, 2), (TOKEN_2, 1)):
        for path in (f"/dashboard/{site}.json", f"/dashboard/{site}/reports/pages.json",
                     f"/dashboard/{site}/reports/pages.csv", f"/dashboard/{site}/realtime.json"):
            refused = app.get(f"{path}?{RANGE}", headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 403 and refused.headers["content-type"] == "application/json"
            assert refused.json() == {"error": "You do not have access to this site."}
            assert "www-authenticate" not in refused.headers
    assert app.get(f"/dashboard/9.json?{RANGE}", headers=bearer).status_code == 404  # as for a user
    # A token no site has, or none at all: 401, with the way to authenticate.
    paths = ("/dashboard/1.json", "/dashboard/2/reports/pages.json", "/dashboard/1/reports/pages.csv")
    for headers in ({"Authorization": f"Bearer {TOKEN_1[:-1]}x"}, {"Authorization": "Bearer "}, {}):
        for path in paths:
            unknown = app.get(f"{path}?{RANGE}", headers=headers)
            assert unknown.status_code == 401
            assert unknown.json()["error"].startswith("authentication required")
            assert unknown.headers["www-authenticate"] == 'Bearer realm="consent-gateway"'
    # A page never takes a token: it would end up in the browser's history and caches.
    assert app.get(f"/dashboard/1?{RANGE}", headers=bearer, follow_redirects=False).status_code == 303


def test_the_overview_and_its_json_twin_tell_the_same_numbers(app: TestClient) -> None:
    log_in(app)
    data = app.get(f"/dashboard/1.json?{RANGE}").json()
    assert app.get(f"/dashboard/1?{RANGE}", headers={"Accept": "application/json"}).json() == data
    figures = {key: value["value"] for key, value in data["figures"].items()}
    assert figures["visitors"] == 3 and figures["visits"] == 3 and figures["pageviews"] == 5
    assert figures["bounce_rate"] == pytest.approx(100 / 3, abs=0.1)  # only visitor 2 bounced
    assert data["range"] == {"period": "custom", "start": DAY.isoformat(), "end": DAY.isoformat(),
                             "timezone": SITE_1_ZONE, "label": data["range"]["label"]}
    assert data["timeseries"]["unit"] == "hour"
    assert sum(data["timeseries"]["pageviews"]) == 5
    html = app.get(f"/dashboard/1?{RANGE}").text
    assert "Parts catalogue" in html and "data-autoload" in html  # the cards load after the page
    pages = app.get(f"/dashboard/1/reports/pages?{RANGE}&fragment=card").text
    assert "/brakes/pads" in pages and "<html" not in pages


@pytest.mark.dated  # the dashboard's own reading of the moment; the stats tests guard the rest
def test_today_and_yesterday_are_each_sites_own_days_at_any_hour(app: TestClient) -> None:
    # NOW is the run's moment: at 00:01 in Berlin the UTC date is still the day before.
    log_in(app)
    for site, zone in ((1, SITE_1_ZONE), (2, "UTC")):
        today = NOW.astimezone(ZoneInfo(zone)).date()
        data = app.get(f"/dashboard/{site}.json?period=today").json()
        assert (data["range"]["start"], data["range"]["end"]) == (today.isoformat(), today.isoformat())
        labels = data["timeseries"]["labels"]
        assert labels[0] == bucket_of(zone, today, local_time(zone, today, 0))[1]  # T00:00, or T01:00
        # Up to the hour NOW falls in: the hours still to come are not listed.
        index, now_label = bucket_of(zone, today, NOW)
        assert labels[0].startswith(f"{today}T") and len(labels) == index + 1 and labels[-1] == now_label
    # Site 1's yesterday is the seeded day.
    yesterday = app.get("/dashboard/1.json?period=yesterday").json()
    assert yesterday["range"]["start"] == DAY.isoformat()
    assert (yesterday["figures"]["visitors"]["value"], yesterday["figures"]["pageviews"]["value"]) == (3, 5)


def chart_table(page: str) -> list[str]:
    """The row headers of the overview's "Chart data as a table", as shown (tags dropped)."""
    body = page.split('<details class="data-table">', 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r'<th scope="row">(.*?)</th>', body)]


@pytest.mark.dated  # the hour and day of NOW end the chart
def test_the_chart_ends_at_the_bucket_now_falls_in_on_the_page_and_in_the_json(app: TestClient) -> None:
    log_in(app)
    today = NOW.astimezone(ZoneInfo(SITE_1_ZONE)).date()
    index, now_label = bucket_of(SITE_1_ZONE, today, NOW)
    series = app.get("/dashboard/1.json?period=today").json()["timeseries"]
    assert series["labels"][-1] == now_label and series["present_index"] == index
    for key in ("visitors", "pageviews", "previous_visitors", "previous_pageviews"):
        assert len(series[key]) == index + 1, key  # yesterday's same hours, no more
    rows = chart_table(app.get("/dashboard/1?period=today").text)
    assert len(rows) == index + 1 and rows[-1] == f"{now_label} (so far)"
    assert not any("(so far)" in row for row in rows[:-1])
    # Days: a custom range into next week stops today; the seeded day before is whole and past.
    ahead = f"period=custom&from={DAY}&to={today + dt.timedelta(days=6)}"
    days = app.get(f"/dashboard/1.json?{ahead}").json()["timeseries"]
    assert days["labels"] == [DAY.isoformat(), today.isoformat()] and days["present_index"] == 1
    assert days["visitors"] == [3, 0] and len(days["previous_visitors"]) == 2
    assert chart_table(app.get(f"/dashboard/1?{ahead}").text) == [DAY.isoformat(), f"{today} (so far)"]
    past = app.get(f"/dashboard/1.json?{RANGE}").json()["timeseries"]
    assert len(past["labels"]) == hours_of(SITE_1_ZONE, DAY) and past["present_index"] is None
    # A range still to come: no bucket, and the page says why there is no chart.
    later = f"period=custom&from={today + dt.timedelta(days=1)}&to={today + dt.timedelta(days=2)}"
    assert app.get(f"/dashboard/1.json?{later}").json()["timeseries"]["labels"] == []
    page = app.get(f"/dashboard/1?{later}").text
    assert "has not started yet" in page and chart_table(page) == []
    # The consent page's chart follows the same rule.
    assert app.get(f"/dashboard/1/consent.json?{later}").json()["labels"] == []
    assert "has not started yet" in app.get(f"/dashboard/1/consent?{later}").text


def bots_dropped(page: str) -> int | None:
    """The count of hits dropped as bots an empty overview shows, or None when it shows none."""
    found = re.search(r"data-bots-dropped>([0-9,]+)<", page)
    return int(found.group(1).replace(",", "")) if found else None


def test_an_empty_overview_says_that_bots_and_headless_browsers_are_dropped(app: TestClient,
                                                                           store: UserStore) -> None:
    """A site owner testing with Playwright sees no visits: the page says why, and how many hits the
    gateway dropped as bots."""
    before = DAY - dt.timedelta(days=1)  # the day before the seeded one: no visits
    empty = f"/dashboard/1?period=custom&from={before}&to={before}"
    log_in(app)
    assert bots_dropped(app.get(empty).text) == 0
    origin = "https://parts.example"
    grant = app.post("/consent?site=1", json={"categories": ["analytics"], "policy_version": "1"},
                     headers={"Origin": origin})
    assert grant.status_code == 200, grant.text
    hit = app.get("/matomo.php?" + urlencode({"idsite": 1, "rec": 1, "url": f"{origin}/"}),
                  headers={"Origin": origin, "User-Agent": HEADLESS})
    assert hit.status_code in (200, 204)
    page = app.get(empty).text
    assert "No visits in this period" in page and "Playwright" in page and "docs/tracking.md" in page
    assert bots_dropped(page) == 1
    with_visits = app.get(f"/dashboard/1?{RANGE}").text
    assert 'id="no-visits"' not in with_visits and bots_dropped(with_visits) is None
    # A share link's reader is told why, without the gateway's own figure.
    _, token = store.create_share(1, "agency")
    app.cookies.clear()
    assert app.get(f"/dashboard/shared?key={token}", follow_redirects=False).status_code == 303
    shared = app.get(empty).text
    assert "Playwright" in shared and bots_dropped(shared) is None


def test_a_filter_narrows_every_number_and_shows_as_a_removable_chip(app: TestClient) -> None:
    log_in(app)
    data = app.get(f"/dashboard/1.json?{RANGE}&city=Munich").json()
    assert data["filters"] == {"city": "Munich"}
    assert data["figures"]["visitors"]["value"] == 1 and data["figures"]["pageviews"]["value"] == 1
    html = app.get(f"/dashboard/1?{RANGE}&city=Munich").text
    assert f'href="/dashboard/1?{RANGE.replace("&", "&amp;")}"' in html  # the chip's remove link


def test_a_report_as_csv_json_and_a_card_fragment(app: TestClient) -> None:
    log_in(app)
    answer = app.get(f"/dashboard/1/reports/pages.csv?{RANGE}")
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["page", "visitors", "pageviews", "label"]
    assert ["/brakes", "2", "2", "/brakes"] in rows
    # A keyword that looks like a spreadsheet formula is quoted, not run when the file is opened.
    answer = app.get(f"/dashboard/1/reports/search_keywords.csv?{RANGE}")
    keywords = list(csv.reader(io.StringIO(answer.text)))
    assert keywords[1][0] == "'=1+1"
    report = app.get(f"/dashboard/1/reports/cities.json?{RANGE}&search=mun").json()
    assert [row["city"] for row in report["rows"]] == ["Munich"]
    fragment = app.get(f"/dashboard/1/reports/downloads?{RANGE}&fragment=card")
    assert "<html" not in fragment.text and "catalogue.pdf" in fragment.text


def test_bad_queries_are_a_400_that_names_the_parameter(app: TestClient) -> None:
    log_in(app)
    answer = app.get("/dashboard/1.json?period=fortnight")
    assert answer.status_code == 400 and "period" in answer.json()["error"]
    assert app.get("/dashboard/1/reports/nothing.json").status_code == 404
    assert app.get("/dashboard/9.json").status_code == 404
    for odd in ("limit=ten", "limit=%C2%B2", "offset=" + "9" * 5000, "limit=-1"):
        answer = app.get(f"/dashboard/1/reports/pages.json?{RANGE}&{odd}")
        assert answer.status_code == 400 and answer.json()["error"].startswith(odd.split("=")[0])
    assert app.get(f"/dashboard/1/reports/pages.json?{RANGE}&limit=0").json()["limit"] == 1


def test_a_card_tab_without_a_session_gets_401_not_the_login_page(app: TestClient) -> None:
    answer = app.get(f"/dashboard/1/reports/cities?{RANGE}&fragment=card", follow_redirects=False)
    assert answer.status_code == 401


def test_the_consent_page_takes_no_visitor_filters(app: TestClient) -> None:
    log_in(app)
    assert app.get(f"/dashboard/1/consent.json?{RANGE}&country=DE").json()["filters"] == {}


def test_clickhouse_trouble_is_a_503_not_a_500(app: TestClient, db: Database) -> None:
    log_in(app)
    db.command("DROP TABLE events")
    answer = app.get(f"/dashboard/1.json?{RANGE}")
    assert answer.status_code == 503 and "unavailable" in answer.json()["error"]


def test_a_share_link_opens_one_site_read_only_until_revoked(app: TestClient, store: UserStore) -> None:
    link, token = store.create_share(1, "agency")
    opened = app.get(f"/dashboard/shared?key={token}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/dashboard/1"
    page = app.get(f"/dashboard/1?{RANGE}")
    assert page.status_code == 200 and 'action="/dashboard/logout"' not in page.text
    assert app.get(f"/dashboard/2?{RANGE}").status_code == 403
    store.revoke_share(link.id)
    assert app.get(f"/dashboard/1?{RANGE}", follow_redirects=False).status_code == 303
    assert app.get("/dashboard/shared?key=wrong").status_code == 404


def test_logging_out_ends_the_session_even_for_a_copied_cookie(app: TestClient) -> None:
    log_in(app)
    copied = app.cookies[SESSION_COOKIE]
    page = app.get(f"/dashboard/1?{RANGE}")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = app.post("/dashboard/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
    assert app.get(f"/dashboard/1?{RANGE}", follow_redirects=False).status_code == 303
    app.cookies.set(SESSION_COOKIE, copied)
    assert app.get(f"/dashboard/1?{RANGE}", follow_redirects=False).status_code == 303
    assert CSRF_COOKIE not in answer.cookies or not answer.cookies[CSRF_COOKIE]


def test_realtime_and_consent_have_json_twins(app: TestClient) -> None:
    log_in(app)
    live = app.get("/dashboard/1/realtime.json").json()
    assert set(live) >= {"visitors", "pageviews", "pages", "site"}
    consent = app.get(f"/dashboard/1/consent.json?{RANGE}").json()
    assert set(consent["totals"]) == {"accept_all", "reject_all", "custom", "withdraw"}
    assert app.get(f"/dashboard/1/consent?{RANGE}").status_code == 200
    assert app.get("/dashboard/1/realtime").status_code == 200


@pytest.mark.parametrize(("report", "key", "machine", "label", "other"), [
    ("sources", "source", "", "Direct / none", "Google"),
    ("referrer_types", "referrer_type", "direct", "Direct", "Search engines"),
    ("utm_sources", "utm_source", "", "(not set)", None),
    ("countries", "country", "DE", "Germany", None),
])
def test_a_row_has_one_name_on_the_page_in_csv_and_in_json(
        app: TestClient, report: str, key: str, machine: str, label: str, other: str | None) -> None:
    # Visitor 1 came from Google, 2 and 3 typed the address: the direct row is the top one everywhere.
    log_in(app)
    assert f">{label}<" in app.get(f"/dashboard/1/reports/{report}?{RANGE}").text
    data = app.get(f"/dashboard/1/reports/{report}.json?{RANGE}").json()
    assert (data["rows"][0][key], data["rows"][0]["label"]) == (machine, label)  # the value a filter takes
    table = list(csv.reader(io.StringIO(app.get(f"/dashboard/1/reports/{report}.csv?{RANGE}").text)))
    # CSV: the machine value first (as the JSON's), the page's name in the last column, ``label``.
    assert table[0][0] == key and table[0][-1] == "label" and table[1][0] == machine
    assert [row[-1] for row in table[1:]] == [label, *([other] if other else [])]
