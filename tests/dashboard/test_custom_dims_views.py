"""Custom dimensions in the dashboard: the ``custom_dimensions`` report with ``dimension=N`` as a page,
JSON and CSV, its 400s, a filter shown as a chip under the configured name, the overview's card.

Site 1 names 1 "Car model" (action scope) and 2 "Customer type" (visit scope). On ``DAY`` (site 1's
day before now): visitor 1 views / (Golf) and /b (Golf, customer "pro"); visitor 2 views / (customer
"new"); visitor 3 views / with nothing set.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.dashboard.users import UserStore, users_path
from gateway.storage.clickhouse import Database
from gateway.storage.migrations import migrate
from gateway.storage.schema import EVENTS_TABLE
from tests.conftest import SettingsFactory
from tests.dashboard.test_views import log_in
from tests.support.clock import local_time
from tests.support.dashboard import DAY, NOW, PASSWORD, RANGE, SITE_1_ZONE, SITES_TOML, TOKEN_1, event

CUSTOM_TOML = SITES_TOML.replace(
    "\n[[sites]]\nid = 2", """
[sites.custom_dimensions]
1 = { name = "Car model", scope = "action" }
2 = { name = "Customer type", scope = "visit" }

[[sites]]
id = 2""", 1)
REPORT = f"/dashboard/1/reports/custom_dimensions?{RANGE}"


@pytest.fixture
def app(make_settings: SettingsFactory, clickhouse_url: str, city_db: Path,
        db: Database) -> Iterator[TestClient]:
    settings: Settings = make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url,
                                        "GATEWAY_GEOIP_CITY_DB": str(city_db)}, CUSTOM_TOML)
    assert [d.name for d in settings.sites[0].custom_dimensions] == ["Car model", "Customer type"]
    UserStore(users_path(settings)).add("anna", PASSWORD, "admin", [])
    migrate(db)
    ten, minute = local_time(SITE_1_ZONE, DAY, 10), dt.timedelta(minutes=1)
    rows = [event(1, ten, path="/", dimensions={"dimension1": "Golf"}),
            event(1, ten + minute, path="/b", dimensions={"dimension1": "Golf", "dimension2": "pro"}),
            event(2, ten + 30 * minute, path="/", dimensions={"dimension2": "new"}),
            event(3, ten + 60 * minute, path="/")]
    db.insert("events", rows, list(EVENTS_TABLE.columns))
    application = create_app(settings)
    application.state.clock = lambda: NOW
    with TestClient(application, base_url="http://127.0.0.1") as client:
        yield client


def bearer(token: str = TOKEN_1) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_json_twin_names_the_dimension_and_labels_unset_values(app: TestClient) -> None:
    answer = app.get(REPORT.replace("custom_dimensions", "custom_dimensions.json") + "&dimension=1",
                     headers=bearer())
    assert answer.status_code == 200
    body = answer.json()
    assert (body["report"], body["title"], body["dimension"], body["scope"]) == (
        "custom_dimensions", "Car model", 1, "action")
    assert body["site"]["custom_dimensions"] == [  # every JSON answer says which the site has
        {"dimension": 1, "name": "Car model", "scope": "action"},
        {"dimension": 2, "name": "Customer type", "scope": "visit"}]
    assert [c["label"] for c in body["columns"]] == ["Car model", "Actions", "Visitors"]
    assert body["rows"] == [{"dimension1": "", "actions": 2, "visitors": 2, "label": "(not set)"},
                            {"dimension1": "Golf", "actions": 2, "visitors": 1, "label": "Golf"}]
    visit = app.get(REPORT.replace("custom_dimensions", "custom_dimensions.json") + "&dimension=2",
                    headers=bearer()).json()
    assert [(r["label"], r["visits"], r["visitors"]) for r in visit["rows"]] == [
        ("(not set)", 1, 1), ("new", 1, 1), ("pro", 1, 1)]


def test_the_csv_twin_has_the_values_and_their_labels(app: TestClient) -> None:
    answer = app.get(REPORT.replace("custom_dimensions", "custom_dimensions.csv") + "&dimension=1",
                     headers=bearer())
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "custom_dimensions-dimension1-" in answer.headers["content-disposition"]  # one file a dimension
    assert list(csv.reader(io.StringIO(answer.text))) == [
        ["dimension1", "actions", "visitors", "label"], ["", "2", "2", "(not set)"],
        ["Golf", "2", "1", "Golf"]]


@pytest.mark.parametrize(("query", "message"), [
    ("", "dimension: required, the number of a custom dimension: 1 (Car model), 2 (Customer type)"),
    ("&dimension=7", "dimension: '7' is not a custom dimension of this site"),
    ("&dimension=1&dimension7=x", "dimension7: no custom dimension 7 is configured for this site"),
    ("&dimension=1&dimension=2", "dimension: given more than once"),
])
def test_a_missing_or_unknown_dimension_is_a_400_that_says_which_exist(app: TestClient, query: str,
                                                                        message: str) -> None:
    answer = app.get(REPORT.replace("custom_dimensions", "custom_dimensions.json") + query, headers=bearer())
    assert answer.status_code == 400
    assert message in answer.text


def test_a_site_without_custom_dimensions_says_where_to_configure_them(app: TestClient) -> None:
    assert log_in(app) == 303
    answer = app.get(f"/dashboard/2/reports/custom_dimensions.json?{RANGE}&dimension=1")
    assert answer.status_code == 400
    assert "no custom dimensions" in answer.json()["error"]


def test_the_page_is_titled_by_the_name_and_its_links_keep_the_dimension(app: TestClient) -> None:
    assert log_in(app) == 303
    page = app.get(REPORT + "&dimension=2&dimension1=Golf")
    assert page.status_code == 200
    html = page.text
    assert "<h1 id=\"report-title\">Customer type</h1>" in html
    # The filter's chip carries the configured name; the table, the visits that had a Golf action.
    assert 'Car model <b title="Golf">Golf</b>' in html
    assert ">pro<" in html and "(not set)" not in html
    links = [href for href in _hrefs(html) if "/reports/custom_dimensions" in href]
    assert links and all(parse_qs(urlsplit(h).query).get("dimension") in (["1"], ["2"]) for h in links)
    assert 'name="dimension" value="2"' in html  # the search and range forms keep it
    # Tabs: one per configured dimension, by name.
    assert ">Car model</a>" in html and ">Customer type</a>" in html


def test_the_overview_has_a_card_of_the_custom_dimensions(app: TestClient) -> None:
    assert log_in(app) == 303
    html = app.get(f"/dashboard/1?{RANGE}").text
    assert "Custom dimensions" in html
    assert "/dashboard/1/reports/custom_dimensions?" in html and "dimension=1" in html
    assert "Custom dimensions" not in app.get(f"/dashboard/2?{RANGE}").text


def test_a_filter_chip_is_named_after_the_dimension(app: TestClient) -> None:
    assert log_in(app) == 303
    html = app.get(f"/dashboard/1?{RANGE}&dimension2=pro").text
    assert 'Customer type <b title="pro">pro</b>' in html
    assert 'aria-label="Remove filter Customer type: pro"' in html
    figures = app.get(f"/dashboard/1.json?{RANGE}&dimension2=pro").json()["figures"]
    assert (figures["visitors"]["value"], figures["actions"]["value"]) == (1, 2)


def _hrefs(html: str) -> list[str]:
    return [part.split('"', 1)[0].replace("&amp;", "&") for part in html.split('href="')[1:]]


def test_the_annotations_json_takes_a_dashboard_url_with_a_custom_filter(app: TestClient) -> None:
    # Only its range matters: a filter on a configured dimension is read and left, not refused.
    answer = app.get(f"/dashboard/1/annotations.json?{RANGE}&dimension2=pro", headers=bearer())
    assert answer.status_code == 200 and answer.json()["annotations"] == []
