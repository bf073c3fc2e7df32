"""The visits log over HTTP: who may read it, its JSON twin, the page, filters and pages of visits."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from gateway.config.settings import Settings
from gateway.dashboard.users import UserStore, users_path
from gateway.storage.clickhouse import Database
from tests.support.clock import local_time
from tests.support.dashboard import DAY, PASSWORD, RANGE, SITE_1_ZONE, TOKEN_1, TOKEN_2


def log_in(client: TestClient, name: str = "anna") -> None:
    page = client.get("/dashboard/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/dashboard/login", data={"username": name, "password": PASSWORD, "csrf": csrf},
                         follow_redirects=False)
    assert answer.status_code == 303


def local(minute: int) -> str:
    """10:MM on the seeded day in site 1's zone, as the log writes a start."""
    return local_time(SITE_1_ZONE, DAY, 10, minute).astimezone(ZoneInfo(SITE_1_ZONE)).isoformat()


def test_the_log_is_for_those_who_may_read_the_site(app: TestClient) -> None:
    page = app.get(f"/dashboard/1/visits?{RANGE}", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/dashboard/login?next=")
    api = app.get(f"/dashboard/1/visits.json?{RANGE}")
    assert api.status_code == 401 and api.headers["www-authenticate"].startswith("Bearer")
    assert app.get(f"/dashboard/1/visits.json?{RANGE}", headers={"Authorization": f"Bearer {TOKEN_2}"}
                   ).status_code == 403
    assert app.get(f"/dashboard/1/visits.json?{RANGE}", headers={"Authorization": f"Bearer {TOKEN_1}"}
                   ).status_code == 200
    log_in(app, "victor")
    assert app.get(f"/dashboard/1/visits?{RANGE}").status_code == 403
    assert app.get(f"/dashboard/1/visits.json?{RANGE}").status_code == 403
    assert app.get(f"/dashboard/2/visits?{RANGE}").status_code == 200


def test_a_share_link_shows_the_reports_but_not_single_visits(app: TestClient, settings: Settings) -> None:
    _, key = UserStore(users_path(settings)).create_share(1, "agency")
    assert app.get(f"/dashboard/shared?key={key}", follow_redirects=False).status_code == 303
    overview = app.get(f"/dashboard/1?{RANGE}")
    assert overview.status_code == 200 and "Visits log" not in overview.text
    for path in (f"/dashboard/1/visits?{RANGE}", f"/dashboard/1/visits.json?{RANGE}"):
        answer = app.get(path)
        assert answer.status_code == 403 and "log in to see the visits log" in answer.text, path


def test_the_json_lists_the_days_visits_newest_first_as_the_figures_count_them(app: TestClient) -> None:
    log_in(app)
    data = app.get(f"/dashboard/1/visits.json?{RANGE}").json()
    assert data["site"]["id"] == 1 and data["range"]["start"] == DAY.isoformat() and data["filters"] == {}
    assert (data["limit"], data["offset"], data["has_more"]) == (20, 0, False)
    visits = data["visits"]
    assert [v["start"] for v in visits] == [local(30), local(20), local(0)]
    figures = app.get(f"/dashboard/1.json?{RANGE}").json()["figures"]
    assert len(visits) == figures["visits"]["value"]
    assert sum(v["actions"] for v in visits) == figures["actions"]["value"]
    third, second, first = visits
    assert (first["source"], first["labels"]) == (
        "Google", {"referrer_type": "Search engines", "source": "Google", "country": "Germany"})
    assert second["labels"]["source"] == "Direct / none" and second["city"] == "Munich"
    assert [(d["type"], d.get("path"), d.get("time_on_page")) for d in first["action_details"]] == [
        ("pageview", "/", 240), ("pageview", "/brakes", 360), ("pageview", "/brakes/pads", None)]
    assert [d["type"] for d in third["action_details"]] == ["pageview", "download", "site_search"]
    assert third["action_details"][2]["keyword"] == "=1+1"
    assert len({v["id"] for v in visits}) == 3
    # The same visit keeps its id from one request to the next.
    assert [v["id"] for v in app.get(f"/dashboard/1/visits.json?{RANGE}").json()["visits"]] == [
        v["id"] for v in visits]


def test_no_visitor_or_consent_id_is_shown(app: TestClient, db: Database) -> None:
    log_in(app)
    consent_ids = {str(row[0]) for row in db.query("SELECT consent_id FROM events WHERE site_id = 1")}
    for text in (app.get(f"/dashboard/1/visits.json?{RANGE}").text,
                 app.get(f"/dashboard/1/visits?{RANGE}").text):
        assert not any(c in text for c in consent_ids)
        assert "visitor_id" not in text and "consent_id" not in text and "visit_id" not in text


def test_the_page_shows_each_visit_and_its_actions(app: TestClient) -> None:
    log_in(app)
    html = app.get(f"/dashboard/1/visits?{RANGE}").text
    assert "<h1 class=\"page-title\">Visits log</h1>" in html
    assert html.count('class="panel visit"') == 3
    assert "/brakes/pads" in html and "Search engines" in html and "Munich, Bavaria, Germany" in html
    assert "4m 00s" in html and "6m 00s" in html  # time on / and on /brakes
    assert "=1+1" in html and "catalogue.pdf" in html
    overview = app.get(f"/dashboard/1?{RANGE}").text
    assert f'href="/dashboard/1/visits?{RANGE.replace("&", "&amp;")}">Visits log</a>' in overview


@pytest.mark.parametrize(("filters", "starts"), [
    ("city=Munich", [20]), ("source=Google", [0]), ("page=%2Fsearch", [30]), ("city=Lyon", []),
])
def test_filters_narrow_the_log_and_show_as_chips(app: TestClient, filters: str, starts: list[int]) -> None:
    log_in(app)
    data = app.get(f"/dashboard/1/visits.json?{RANGE}&{filters}").json()
    assert [v["start"] for v in data["visits"]] == [local(m) for m in starts]
    html = app.get(f"/dashboard/1/visits?{RANGE}&{filters}").text
    assert "chip-remove" in html
    if not starts:
        assert "No visits" in html


def test_pages_of_visits(app: TestClient) -> None:
    log_in(app)
    first = app.get(f"/dashboard/1/visits.json?{RANGE}&limit=2").json()
    rest = app.get(f"/dashboard/1/visits.json?{RANGE}&limit=2&offset=2").json()
    assert (len(first["visits"]), first["has_more"]) == (2, True)
    assert (len(rest["visits"]), rest["has_more"]) == (1, False)
    assert [v["start"] for v in first["visits"] + rest["visits"]] == [local(30), local(20), local(0)]
    assert app.get(f"/dashboard/1/visits.json?{RANGE}&limit=5000").json()["limit"] == 100
    html = app.get(f"/dashboard/1/visits?{RANGE}&limit=2").text
    assert "offset=2" in html and "Older visits" in html and "Newer visits" not in html
    html = app.get(f"/dashboard/1/visits?{RANGE}&limit=2&offset=2").text
    assert "Newer visits" in html and "Older visits" not in html and 'start="3"' in html
    bad = app.get(f"/dashboard/1/visits.json?{RANGE}&offset=-1")
    assert bad.status_code == 400 and bad.json()["error"].startswith("offset")
    assert app.get(f"/dashboard/1/visits.json?{RANGE}&nonsense=1").status_code == 400
