"""The visits log on the hand-made shop: the visits the figures count, newest first, with their actions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.stats.overview import figures
from gateway.stats.query import StatsQuery, parse_query
from gateway.stats.visit_log import visit_log
from gateway.storage.clickhouse import Database
from tests.stats.data import GOOGLE, KEPT, TODAY, ZONE, at, hit, load

KEY = b"a server key for the tests, 32+ bytes long"


def query(**params: str) -> StatsQuery:
    return parse_query({"period": "today", **params}, 1, ZONE, TODAY, kept_from=KEPT)


def local(day: dt.date, hh: int, mm: float = 0) -> str:
    return at(day, hh, mm).astimezone(ZoneInfo(ZONE)).isoformat(timespec="seconds")


def every_visit(db: Database, q: StatsQuery, limit: int) -> list[dict[str, Any]]:
    """The whole log, page after page."""
    visits, offset = [], 0
    while True:
        page = visit_log(db, q, KEY, limit=limit, offset=offset)
        visits += page["visits"]
        if not page["has_more"]:
            return visits
        offset += limit


@pytest.mark.dated
def test_todays_visits_newest_first_each_with_its_actions_in_order(shop: Database) -> None:
    page = visit_log(shop, query(), KEY)
    visits = page["visits"]
    assert page["has_more"] is False and page["limit"] == 20 and page["offset"] == 0
    # A's direct bounce at 12:00, C's at 11:00, B from the newsletter at 10:00, A from Google at 09:00.
    assert [v["start"] for v in visits] == [local(TODAY, 12), local(TODAY, 11), local(TODAY, 10),
                                           local(TODAY, 9)]
    assert [(v["source"], v["referrer_type"], v["city"]) for v in visits] == [
        ("", "direct", "Berlin"), ("blog.example.org", "website", "Munich"),
        ("newsletter", "campaign", "Paris"), ("Google", "search", "Berlin")]
    a_second, _, b, a_first = visits
    assert (a_first["duration"], a_first["actions"], a_first["pageviews"]) == (600, 5, 3)
    assert (a_first["country"], a_first["region"], a_first["browser"], a_first["os"], a_first["device"],
            a_first["language"]) == ("DE", "Berlin", "Firefox", "Windows", "desktop", "de")
    # A page's time runs to the next page load; events and downloads happen on the page.
    assert a_first["action_details"] == [
        {"type": "pageview", "time": local(TODAY, 9), "is_action": True, "path": "/", "title": "",
         "time_on_page": 300},
        {"type": "pageview", "time": local(TODAY, 9, 5), "is_action": True, "path": "/pricing", "title": "",
         "time_on_page": 300},
        {"type": "event", "time": local(TODAY, 9, 6), "is_action": True, "category": "video",
         "event_action": "play", "name": "intro"},
        {"type": "download", "time": local(TODAY, 9, 8), "is_action": True,
         "url": "https://shop.example/files/a.pdf"},
        {"type": "pageview", "time": local(TODAY, 9, 10), "is_action": True, "path": "/signup", "title": "",
         "time_on_page": None},  # nothing came after it: unknown, not zero
    ]
    # B's ping is not listed; the search page lasts until the outlink, the last hit.
    assert (b["duration"], b["actions"], b["pageviews"], b["utm_campaign"]) == (240, 3, 1, "spring")
    assert [(d["type"], d.get("time_on_page")) for d in b["action_details"]] == [
        ("pageview", 180), ("site_search", 60), ("outlink", None)]
    assert b["action_details"][1]["keyword"] == "shoes"
    assert [d["path"] for d in a_second["action_details"]] == ["/blog"]


@pytest.mark.parametrize("params", [
    {}, {"period": "7d"}, {"city": "Berlin"}, {"source": "Google"}, {"referrer_type": "direct"},
    {"page": "/pricing"}, {"entry_page": "/"}, {"keyword": "shoes"}, {"country": "DE", "exit_page": "/"},
])
def test_the_log_lists_the_visits_and_actions_the_figures_count(shop: Database,
                                                                params: dict[str, str]) -> None:
    q = query(**params)
    counted = figures(shop, q)
    visits = every_visit(shop, q, limit=1)
    assert len(visits) == counted["visits"]["value"]
    assert sum(v["actions"] for v in visits) == counted["actions"]["value"]
    assert sum(v["pageviews"] for v in visits) == counted["pageviews"]["value"]
    listed = sum(sum(d["is_action"] for d in v["action_details"]) for v in visits)
    assert listed == counted["actions"]["value"]
    assert len({v["id"] for v in visits}) == len(visits)


def test_pages_follow_each_other_and_ids_stay_the_same(shop: Database) -> None:
    whole = visit_log(shop, query(period="7d"), KEY)["visits"]
    assert len(whole) == 5  # D's visit yesterday comes last
    first = visit_log(shop, query(period="7d"), KEY, limit=2)
    second = visit_log(shop, query(period="7d"), KEY, limit=2, offset=2)
    last = visit_log(shop, query(period="7d"), KEY, limit=2, offset=4)
    assert (first["has_more"], second["has_more"], last["has_more"]) == (True, True, False)
    assert first["visits"] + second["visits"] + last["visits"] == whole
    assert visit_log(shop, query(period="7d"), KEY, limit=2, offset=6)["visits"] == []
    assert visit_log(shop, query(), KEY, limit=1000)["limit"] == 100  # capped


def test_no_visitor_or_consent_id_leaves_the_log(shop: Database) -> None:
    q = query(period="7d")
    text = json.dumps(visit_log(shop, q, KEY))
    assert "visitor" not in text and "consent" not in text
    ids = [v["id"] for v in visit_log(shop, q, KEY)["visits"]]
    # Visitor ids 1 to 4 in the shop: no id is one of them, and another key gives unrelated ids.
    assert not {"1", "2", "3", "4"} & set(ids)
    others = [v["id"] for v in visit_log(shop, q, b"another server key, as long as the first")["visits"]]
    assert not set(ids) & set(others)


@pytest.mark.parametrize(("params", "starts"), [
    ({"city": "Paris"}, [(10, 0)]),  # hit level
    ({"source": "Google"}, [(9, 0)]),  # visit level: A's first visit, not its later bounce
    ({"keyword": "shoes"}, [(10, 0)]),  # contains
    ({"browser": "Firefox"}, [(12, 0), (9, 0)]),
])
def test_filters_select_visits_as_everywhere(shop: Database, params: dict[str, str],
                                            starts: list[tuple[int, int]]) -> None:
    visits = visit_log(shop, query(**params), KEY)["visits"]
    assert [v["start"] for v in visits] == [local(TODAY, hh, mm) for hh, mm in starts]
    if "source" in params:  # the whole visit, not only its matching hit
        assert len(visits[0]["action_details"]) == 5


def test_nothing_before_the_sites_retention_is_listed(shop: Database) -> None:
    # Kept from 10:30 today: B's visit (10:00-10:04), A's first and D's are gone.
    q = parse_query({"period": "7d"}, 1, ZONE, TODAY, kept_from=max(KEPT, at(TODAY, 10, 30)))
    visits = visit_log(shop, q, KEY)["visits"]
    assert [v["start"] for v in visits] == [local(TODAY, 12), local(TODAY, 11)]
    assert len(visits) == figures(shop, q)["visits"]["value"]


@pytest.mark.dated
def test_goals_and_content_are_listed_as_hits_that_are_no_actions_and_pings_only_lengthen_pages(
    db: Database,
) -> None:
    yesterday = TODAY - dt.timedelta(days=1)
    load(db, [
        hit(7, at(yesterday, 14, 0), path="/shoes", title="Shoes", **GOOGLE),
        hit(7, at(yesterday, 14, 1), "content", event_category="banner", event_action="click",
            event_name="sale"),
        hit(7, at(yesterday, 14, 2), "goal", goal_id=3, revenue=12.5),
        hit(7, at(yesterday, 14, 3), path="/cart"),
        hit(7, at(yesterday, 14, 9), "ping"),  # /cart was still open at 14:09
    ])
    q = parse_query({"period": "yesterday"}, 1, ZONE, TODAY, kept_from=KEPT)
    (visit,) = visit_log(db, q, KEY)["visits"]
    assert (visit["duration"], visit["actions"], visit["pageviews"], visit["source"]) == (540, 2, 2, "Google")
    assert [(d["type"], d["is_action"], d.get("time_on_page")) for d in visit["action_details"]] == [
        ("pageview", True, 180), ("content", False, None), ("goal", False, None), ("pageview", True, 360)]
    _, content, goal, _ = visit["action_details"]
    assert (content["category"], content["event_action"], content["name"]) == ("banner", "click", "sale")
    assert (goal["goal_id"], goal["revenue"]) == (3, 12.5)
    assert visit["action_details"][0]["title"] == "Shoes"


def test_a_hit_stored_twice_with_new_visit_starts_two_visits_each_listed_once(db: Database) -> None:
    # A spool replayed after a crash stores a hit twice (at least once): with new_visit, the figures
    # count two visits at that instant, each with one copy (engine.in_visit); so does the log.
    yesterday = TODAY - dt.timedelta(days=1)
    twice = [hit(9, at(yesterday, 14), path="/a", new_visit=1) for _ in range(2)]
    load(db, [*twice, hit(9, at(yesterday, 14, 1), path="/b")])
    q = parse_query({"period": "yesterday"}, 1, ZONE, TODAY, kept_from=KEPT)
    counted = {key: figure["value"] for key, figure in figures(db, q).items()}
    visits = every_visit(db, q, limit=1)  # a page each: the two visits starting together are both listed
    assert len(visits) == counted["visits"] == 2 and len({v["id"] for v in visits}) == 2
    assert sum(sum(d["is_action"] for d in v["action_details"]) for v in visits) == counted["actions"] == 3
    assert sorted(len(v["action_details"]) for v in visits) == [1, 2]


def test_the_log_ends_at_its_deepest_offset(shop: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # Past MAX_OFFSET the log says there is no more, rather than answering its last page again.
    monkeypatch.setattr("gateway.stats.visit_log.MAX_OFFSET", 2)
    q = parse_query({"period": "7d"}, 1, ZONE, TODAY, kept_from=KEPT)
    assert visit_log(shop, q, KEY, limit=2, offset=0)["has_more"]
    deepest = visit_log(shop, q, KEY, limit=2, offset=4)
    assert deepest["offset"] == 2 and not deepest["has_more"]
