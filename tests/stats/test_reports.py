"""Breakdowns on the hand-made shop: every family, filters, search, paging, the declared shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.stats.dims import DIMS
from gateway.stats.overview import figures
from gateway.stats.query import FILTERS, QueryError, parse_query
from gateway.stats.reports import REPORTS, breakdown
from gateway.stats.table import METRICS
from gateway.stats.timeseries import timeseries
from gateway.storage.clickhouse import Database
from gateway.storage.migrations import migrate
from gateway.storage.schema import EVENTS_TABLE
from tests.stats.data import KEPT, TODAY, ZONE, at, bucket
from tests.support.dashboard import event

# Every report reads "today" through one of a few date paths (hit rows; visit rows, cut at the site's
# midnight; hit rows taken out of filtered visits): one case of each is ``dated``, run at every hard
# moment too (tests/test_any_moment.py); the other families and filters differ in their columns only.
DATED = pytest.mark.dated


def rows(db: Database, name: str, params: dict[str, str] | None = None,
         **options: Any) -> list[tuple[Any, ...]]:
    q = parse_query({"period": "today", **(params or {})}, 1, ZONE, TODAY, kept_from=KEPT)
    result = breakdown(db, q, name, **options)
    return [tuple(row.values()) for row in result["rows"]]


def test_reports_are_declared_over_known_dimensions_and_metrics() -> None:
    assert len(REPORTS) == 24
    for report in REPORTS.values():
        assert all(d in FILTERS for d in report.dims), report.name
        assert all(m in METRICS for m in report.metrics), report.name
        assert set(report.labels) == {*report.dims, *report.metrics}
    assert REPORTS["cities"].dims == ("country", "region", "city")
    assert REPORTS["event_names"].dims == ("event_category", "event_action", "event_name")


def test_the_result_shape(shop: Database) -> None:
    result = breakdown(shop, parse_query({"period": "today"}, 1, ZONE, TODAY,
                                         kept_from=KEPT), "regions", limit=1)
    assert result == {
        "report": "regions", "title": "Regions",
        "columns": [{"key": "country", "label": "Country", "kind": "dim"},
                    {"key": "region", "label": "Region", "kind": "dim"},
                    {"key": "visitors", "label": "Visitors", "kind": "metric"},
                    {"key": "pageviews", "label": "Pageviews", "kind": "metric"},
                    {"key": "actions", "label": "Actions", "kind": "metric"}],
        "rows": [{"country": "DE", "region": "Bavaria", "visitors": 1, "pageviews": 1, "actions": 1}],
        "has_more": True,
    }


@pytest.mark.parametrize(("name", "expected"), [
    pytest.param("pages", [("/", 2, 2), ("/pricing", 2, 2), ("/blog", 1, 1), ("/signup", 1, 1)], marks=DATED),
    pytest.param("entry_pages", [("/", 2, 2, 50.0), ("/blog", 1, 1, 100.0), ("/pricing", 1, 1, 0.0)],
                 marks=DATED),
    ("exit_pages", [("/", 1, 1), ("/blog", 1, 1), ("/pricing", 1, 1), ("/signup", 1, 1)]),
    ("referrer_types", [("campaign", 1, 1, 0.0), ("direct", 1, 1, 100.0), ("search", 1, 1, 0.0),
                        ("website", 1, 1, 100.0)]),
    # B came with utm_source=newsletter&utm_campaign=spring: its source is the newsletter, not "spring"
    pytest.param("sources", [("", 1, 1, 100.0), ("Google", 1, 1, 0.0), ("blog.example.org", 1, 1, 100.0),
                             ("newsletter", 1, 1, 0.0)], marks=DATED),
    ("utm_sources", [("", 2, 3, 66.7), ("newsletter", 1, 1, 0.0)]),
    ("utm_mediums", [("", 2, 3, 66.7), ("email", 1, 1, 0.0)]),
    ("utm_campaigns", [("", 2, 3, 66.7), ("spring", 1, 1, 0.0)]),
    ("countries", [("DE", 2, 5, 7), ("FR", 1, 1, 3)]),
    ("cities", [("DE", "Bavaria", "Munich", 1, 1, 1), ("DE", "Berlin", "Berlin", 1, 4, 6),
                ("FR", "Île-de-France", "Paris", 1, 1, 3)]),
    ("browser_versions", [("Chrome", "131", 2, 2, 4), ("Firefox", "133", 1, 4, 6)]),
    ("os", [("Android", 1, 1, 3), ("Mac", 1, 1, 1), ("Windows", 1, 4, 6)]),
    ("devices", [("desktop", 2, 5, 7), ("smartphone", 1, 1, 3)]),
    ("screens", [("1920x1080", 2, 5, 7), ("390x844", 1, 1, 3)]),
    ("languages", [("de", 2, 5, 7), ("fr", 1, 1, 3)]),
    ("event_names", [("video", "play", "intro", 1, 1)]),
    ("search_keywords", [("shoes", 1, 1)]),
    ("outlinks", [("https://partner.example/x", 1, 1)]),
    ("downloads", [("https://shop.example/files/a.pdf", 1, 1)]),
])
def test_every_family(shop: Database, name: str, expected: list[tuple[Any, ...]]) -> None:
    assert rows(shop, name) == expected


@pytest.mark.parametrize(("name", "params", "expected"), [
    # Matomo segments: the pages of the visits from Google, not A's later visit
    pytest.param("pages", {"source": "Google"}, [("/", 1, 1), ("/pricing", 1, 1), ("/signup", 1, 1)],
                 marks=DATED),
    pytest.param("pages", {"page": "/pricing"}, [("/pricing", 2, 2), ("/", 1, 1), ("/signup", 1, 1)],
                 marks=DATED),
    ("pages", {"city": "Berlin"}, [("/", 1, 1), ("/blog", 1, 1), ("/pricing", 1, 1), ("/signup", 1, 1)]),
    ("entry_pages", {"page": "/pricing"}, [("/", 1, 1, 0.0), ("/pricing", 1, 1, 0.0)]),
    ("sources", {"country": "DE"}, [("", 1, 1, 100.0), ("Google", 1, 1, 0.0),
                                    ("blog.example.org", 1, 1, 100.0)]),
    ("countries", {"referrer_type": "search"}, [("DE", 1, 3, 5)]),
    ("countries", {"keyword": "shoes"}, [("FR", 1, 1, 3)]),
    ("event_categories", {"exit_page": "/signup"}, [("video", 1, 1)]),
    ("outlinks", {"source": "Google"}, []),
])
def test_filters_select_visits(shop: Database, name: str, params: dict[str, str],
                               expected: list[tuple[Any, ...]]) -> None:
    assert rows(shop, name, params) == expected


def test_search_is_case_insensitive_on_the_last_dimension(shop: Database) -> None:
    assert rows(shop, "pages", search="PRI") == [("/pricing", 2, 2)]
    assert rows(shop, "cities", search="mun") == [("DE", "Bavaria", "Munich", 1, 1, 1)]
    assert rows(shop, "countries", search="germ") == [("DE", 2, 5, 7)]  # by the name shown
    assert rows(shop, "pages", search="%") == []  # no pattern syntax


def test_paging(shop: Database) -> None:
    q = parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT)
    first = breakdown(shop, q, "pages", limit=3)
    second = breakdown(shop, q, "pages", limit=3, offset=3)
    assert [r["page"] for r in first["rows"]] == ["/", "/pricing", "/blog"] and first["has_more"]
    assert [r["page"] for r in second["rows"]] == ["/signup"] and not second["has_more"]


def test_unknown_report(shop: Database) -> None:
    with pytest.raises(QueryError, match=r"^report:"):
        breakdown(shop, parse_query({}, 1, ZONE, TODAY, kept_from=KEPT), "planets")


@pytest.mark.parametrize("key", sorted(DIMS))
def test_every_filter_runs(shop: Database, key: str) -> None:
    q = parse_query({"period": "today", key: "x"}, 1, ZONE, TODAY, kept_from=KEPT)
    assert breakdown(shop, q, "pages")["rows"] == []


def test_a_visitor_with_only_pings_is_in_no_report(db: Database) -> None:
    # A tab left open since yesterday pings into the range: no action, so no visit and no visitor.
    noon = at(TODAY, 12)
    migrate(db)
    db.insert("events", [event(1, noon), event(2, noon, "ping", city_name="Hamburg")],
              list(EVENTS_TABLE.columns))
    q = parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT)
    assert figures(db, q)["visitors"]["value"] == 1
    assert [row["city"] for row in breakdown(db, q, "cities")["rows"]] == ["Berlin"]
    assert sum(timeseries(db, q)["visitors"]) == 1


@pytest.mark.dated  # hourly buckets: 23 or 25 on a summer-time day
def test_pings_count_the_same_with_a_filter_that_needs_whole_visits(db: Database) -> None:
    # A pageview at 10:55 from Google, then a ping at 11:05: the visitor is in hour 10 only, with or
    # without a source filter that matches all the traffic.
    landing = at(TODAY, 10, 55)
    migrate(db)
    db.insert("events", [event(1, landing, referrer_type="search", referrer_name="Google"),
                         event(1, landing + dt.timedelta(minutes=10), "ping")], list(EVENTS_TABLE.columns))
    for extra in ({}, {"source": "Google"}, {"page": "/"}):
        params = {"period": "today", **extra}
        hours = timeseries(db, parse_query(params, 1, ZONE, TODAY, kept_from=KEPT))["visitors"]
        assert [h for h, n in enumerate(hours) if n] == [bucket(TODAY, 10, 55)], params



def test_actions_are_what_matomo_counts_and_every_breakdown_shows_them(db: Database) -> None:
    # Four visitors each load three pages, two of them site-search results: 4 pageviews, 12 actions.
    # A fifth views one page; a content impression and a goal conversion follow a minute later: still
    # a bounce (neither is an action), a minute long. A sixth has only those two: no visit at all.
    start = at(TODAY, 10)
    minute = dt.timedelta(minutes=1)
    rows = []
    for visitor in (1, 2, 3, 4):
        rows += [event(visitor, start, language="de-de"),
                 event(visitor, start + minute, "site_search", search_keyword="brake pads", language="de-de"),
                 event(visitor, start + 2 * minute, "site_search", search_keyword="discs", language="de-de")]
    rows += [event(5, start, language="fr-fr"),
             event(5, start + minute, "content", event_name="spring banner", language="fr-fr"),
             event(5, start + minute, "goal", goal_id=1, revenue=10.0, language="fr-fr"),
             event(6, start, "content", event_name="spring banner", language="en-us"),
             event(6, start + minute, "goal", goal_id=1, language="en-us")]
    migrate(db)
    db.insert("events", rows, list(EVENTS_TABLE.columns))
    q = parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT)
    got = {key: figure["value"] for key, figure in figures(db, q).items()}
    assert got == {"visitors": 5, "visits": 5, "actions": 13, "actions_per_visit": 2.6, "pageviews": 5,
                   "views_per_visit": 1.0, "bounce_rate": 20.0, "avg_duration": 108}
    languages = breakdown(db, q, "languages")
    assert [c["key"] for c in languages["columns"]] == ["language", "visitors", "pageviews", "actions"]
    assert [(r["language"], r["visitors"], r["pageviews"], r["actions"]) for r in languages["rows"]] == [
        ("de-de", 4, 4, 12), ("fr-fr", 1, 1, 1)]
    # The same under a filter that cuts visits (the visit rows' path), and from hits of one kind.
    searched = parse_query({"period": "today", "keyword": "discs"}, 1, ZONE, TODAY, kept_from=KEPT)
    assert figures(db, searched)["actions"]["value"] == 12
    assert [(r["language"], r["actions"]) for r in breakdown(db, searched, "languages")["rows"]] == [
        ("de-de", 12)]
    assert sum(timeseries(db, q)["visitors"]) == 5


# Campaign landings as ingest stored them before a campaign was named by its source (referrer_name:
# the campaign's name, else its source) and as it stores them now (the source, else what the referrer
# alone is named): (visitor, stored fields, the source the Sources report shows).
CAMPAIGN_ROWS: list[tuple[int, dict[str, Any], str]] = [
    # utm_source=newsletter&utm_campaign=spring from a mail client, stored before and now
    (1, dict(referrer_name="spring", referrer_host="mail.example", campaign_source="newsletter",
             campaign_name="spring"), "newsletter"),
    (2, dict(referrer_name="newsletter", referrer_host="mail.example", campaign_source="newsletter",
             campaign_name="spring"), "newsletter"),
    # utm_source=hn alone (both ways the same)
    (3, dict(referrer_name="hn", campaign_source="hn"), "hn"),
    # utm_campaign=spring alone, from Google: before, only the host says where from; now, Google
    (4, dict(referrer_name="spring", referrer_host="www.google.com", campaign_name="spring"),
     "www.google.com"),
    (5, dict(referrer_name="Google", referrer_host="www.google.com", campaign_name="spring"), "Google"),
    # utm_campaign=spring alone, typed in or from the site itself: direct, before and now
    (6, dict(referrer_name="spring", campaign_name="spring"), ""),
    (7, dict(referrer_name="", referrer_host="www.example.com", campaign_name="spring"), ""),
    # the same from the site's own page, stored before: the host is the page's own, so direct too
    (9, dict(referrer_name="spring", referrer_host="www.example.com", url_host="example.com",
             campaign_name="spring"), ""),
]


def test_a_campaign_visit_s_source_is_its_utm_source_for_old_and_new_rows(db: Database) -> None:
    day = TODAY - dt.timedelta(days=1)  # a whole past day: no hour of it is still to come
    hits = [event(visitor, at(day, 10), referrer_type="campaign", **fields)
            for visitor, fields, _ in CAMPAIGN_ROWS]
    hits.append(event(8, at(day, 11), referrer_type="search", referrer_name="Google",
                      referrer_host="www.google.com"))
    migrate(db)
    db.insert("events", hits, list(EVENTS_TABLE.columns))

    def visitors(report: str, key: str, **filters: str) -> dict[str, int]:
        q = parse_query({"period": "yesterday", **filters}, 1, ZONE, TODAY, kept_from=KEPT)
        return {row[key]: row["visitors"] for row in breakdown(db, q, report)["rows"]}

    expected = {"newsletter": 2, "Google": 2, "": 3, "hn": 1, "www.google.com": 1}
    assert visitors("sources", "source") == expected
    # The campaign's name is under campaigns only.
    assert visitors("utm_campaigns", "utm_campaign") == {"spring": 7, "": 2}
    assert visitors("utm_sources", "utm_source") == {"": 6, "newsletter": 2, "hn": 1}
    # A click on a source row selects the same visits (the filter tests the stored columns).
    for source, count in expected.items():
        assert visitors("sources", "source", source=source) == {source: count}, source

