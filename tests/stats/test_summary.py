"""The visit summary gives the dashboards the same answers as cutting every visit at query time.

Random visits over the twelve days before the run's moment (some crossing midnight, with pings,
campaign landings, ``new_visit``), a visitor's place and device the same on all their hits (what
``dims.py`` assumes); the summary built as a gateway would at that moment; then every report, the
figures and the chart, under each filter and over ranges inside, straddling and after the closed days,
asked with the summary and without it. Plus what changes a closed day: a late hit (rebuilt at the
next run), a build racing a change (never registered), a changed time zone (old builds not read).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import pytest

from gateway.stats.engine import Span
from gateway.stats.overview import figures
from gateway.stats.query import CUSTOM, DateRange, StatsQuery, Summary, parse_query
from gateway.stats.reports import REPORTS, breakdown
from gateway.stats.summary import current_builds, plan
from gateway.stats.summary_build import build_all, build_day, last_closed
from gateway.stats.timeseries import timeseries
from gateway.stats.visits import DEFAULT_TIMEOUT
from gateway.storage.clickhouse import Database
from tests.stats.data import BLOG, GOOGLE, KEPT, PEOPLE, SHOP, SPRING, TODAY, ZONE, at, hit, load
from tests.support.clock import MOMENT

pytestmark = pytest.mark.dated  # which days are closed depends on the moment

DAY = dt.timedelta(days=1)
# Goals and content impressions are hits but no actions (engine.ACTION_TYPES): a run of them opens no visit.
KINDS = ["pageview"] * 6 + ["ping", "ping", "event", "outlink", "site_search", "download", "goal", "content"]
# Campaign landings stored as ingest does now (named by the source, else by the referrer alone), as
# SPRING and OLD_NO_SOURCE were stored before (named by the campaign's name): dims.SOURCE reads both.
NO_SOURCE: dict[str, Any] = dict(referrer_type="campaign", referrer_host="www.google.com",
                                 campaign_name="spring")
OLD_NO_SOURCE: dict[str, Any] = dict(NO_SOURCE, referrer_name="spring")
REFERRERS: list[dict[str, Any]] = [{}, {}, GOOGLE, SPRING, BLOG, dict(SPRING, referrer_name="newsletter"),
                                   OLD_NO_SOURCE, dict(NO_SOURCE, referrer_name="Google"),
                                   dict(NO_SOURCE, referrer_host="", referrer_name="")]
FILTERS: list[list[tuple[str, str]]] = [
    [], [("city", "Berlin")], [("source", "Google")], [("referrer_type", "campaign")],
    [("source", "newsletter")], [("source", "www.google.com")],
    [("entry_page", "/p1")], [("exit_page", "/p2")], [("utm_campaign", "spring")],
    [("country", "DE"), ("source", "Google")], [("page", "/p1")],
]


def consent_of(visitor: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_OID, f"visitor-{visitor}")


def random_hits(seed: int = 11, visitors: int = 70) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    rows = []
    for visitor in range(1, visitors + 1):
        person = PEOPLE[rng.choice(list(PEOPLE))]
        for _ in range(rng.randrange(1, 5)):
            day = TODAY - rng.randrange(0, 12) * DAY
            # Late evenings often: visits crossing midnight.
            ts = at(day, rng.choice([9, 14, 20, 23]), rng.randrange(0, 59))
            first = True
            for _ in range(rng.randrange(1, 9)):
                kind = rng.choice(KINDS) if not first or rng.random() < 0.1 else "pageview"
                extra = rng.choice(REFERRERS) if first else {}
                rows.append(hit(visitor, ts, kind, path=f"/p{rng.randrange(4)}",
                                new_visit=int(rng.random() < 0.08), consent_id=consent_of(visitor),
                                **person, **extra))
                ts += dt.timedelta(seconds=rng.choice([1, 40, 300, 900, 1799, 1801, 4000]))
                first = False
    return [r for r in rows if r[EVENTS_TS] < MOMENT.instant]


EVENTS_TS = 1  # the position of ``ts`` in an events row


def kept(*_: Any) -> dt.datetime:
    return KEPT


def build(db: Database) -> Summary:
    done = build_all(db, [SHOP], MOMENT.instant, DEFAULT_TIMEOUT, kept)
    assert not done["failed"]
    summary = current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT)
    assert summary is not None and summary.last == last_closed(ZONE, MOMENT.instant)
    return summary


def query(pairs: list[tuple[str, str]], summary: Summary | None) -> StatsQuery:
    return StatsQuery(**{**_fields(parse_query(pairs, 1, ZONE, TODAY, kept_from=KEPT)), "summary": summary})


def _fields(q: StatsQuery) -> dict[str, Any]:
    return {"site_id": q.site_id, "range": q.range, "filters": q.filters, "visit_timeout": q.visit_timeout,
            "kept_from": q.kept_from}


# Each way of reading: visit attributes, hit dimensions over visits, hits, "contains" reports.
SOME = ("pages", "entry_pages", "exit_pages", "sources", "utm_campaigns", "cities", "devices", "event_names")


def answers(db: Database, q: StatsQuery, reports: tuple[str, ...] = SOME) -> dict[str, Any]:
    out: dict[str, Any] = {"figures": figures(db, q), "timeseries": timeseries(db, q)}
    for name in reports:
        out[name] = breakdown(db, q, name, limit=1000)["rows"]
    return out


def ranges() -> list[list[tuple[str, str]]]:
    closed = last_closed(ZONE, MOMENT.instant)
    custom = [(closed - 6 * DAY, closed - 1 * DAY), (closed - 14 * DAY, TODAY), (closed - 2 * DAY, closed)]
    return [[("period", CUSTOM), ("from", a.isoformat()), ("to", b.isoformat())] for a, b in custom]


def test_every_answer_with_the_summary_equals_query_time(db: Database) -> None:
    load(db, random_hits())
    summary = build(db)
    assert db.query("SELECT count() FROM visits")[0][0] > 100
    used = 0
    inside, straddling, last = ranges()
    cases = [(period, filters) for period in (inside, straddling) for filters in FILTERS] + [(last, [])]
    for period, filters in cases:
        with_summary, without = query(period + filters, summary), query(period + filters, None)
        used += plan(with_summary, Span.of(with_summary)) is not None
        every = tuple(REPORTS) if period == straddling and len(filters) < 2 else SOME
        assert answers(db, with_summary, every) == answers(db, without, every), (period, filters)
    assert used == len(cases) - 2  # the summary was read, but for the "contains" filter
    # A summary that starts inside the range (its backlog not built yet): days cut at query time on
    # both sides of it.
    first = dt.date.fromisoformat(straddling[1][1]) + 3 * DAY
    partial = Summary(first, summary.last, summary.builds)
    for filters in FILTERS[:3]:
        q = query(straddling + filters, partial)
        assert answers(db, q) == answers(db, query(straddling + filters, None)), filters


def test_a_visit_crossing_midnight_is_one_visit_on_each_day_both_ways(db: Database) -> None:
    day = last_closed(ZONE, MOMENT.instant) - DAY
    late = at(day, 23, 50)
    load(db, [hit(1, late, path="/late", **GOOGLE), hit(1, late + dt.timedelta(minutes=20), path="/early")])
    summary = build(db)
    period = [("period", CUSTOM), ("from", day.isoformat()), ("to", (day + DAY).isoformat())]
    for s in (summary, None):
        q = query(period, s)
        assert figures(db, q)["visits"]["value"] == 2
        assert figures(db, q)["bounce_rate"]["value"] == 100.0
        entries = breakdown(db, q, "entry_pages")["rows"]
        assert {r["entry_page"]: r["visits"] for r in entries} == {"/late": 1, "/early": 1}
        # The second day's visit has no referrer of its own: it is direct.
        assert {r["source"]: r["visits"] for r in breakdown(db, q, "sources")["rows"]} == {"Google": 1, "": 1}


def test_a_late_hit_on_a_closed_day_is_in_the_answers_after_the_next_run(db: Database) -> None:
    hits = random_hits(seed=3, visitors=30)
    load(db, hits)
    summary = build(db)
    day = summary.last - 2 * DAY
    db.insert("events", [hit(999, at(day, 12), path="/late", consent_id=consent_of(999))],
              list(_columns()))
    period = [("period", CUSTOM), ("from", (day - DAY).isoformat()), ("to", (day + DAY).isoformat())]
    stale = figures(db, query(period, summary))
    truth = figures(db, query(period, None))
    assert stale["visits"]["value"] == int(truth["visits"]["value"] or 0) - 1  # lags until the next run
    done = build_all(db, [SHOP], MOMENT.instant, DEFAULT_TIMEOUT, kept)
    assert done["built"] == 1  # that day alone
    assert figures(db, query(period, current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT))) == truth


def test_a_build_that_raced_a_change_is_never_read(db: Database) -> None:
    load(db, random_hits(seed=5, visitors=20))
    day = last_closed(ZONE, MOMENT.instant)

    class Racing:
        """The database, with a late hit landing right after the build's insert."""

        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

        def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
            result = db.command(sql, parameters)
            if sql.startswith("INSERT INTO visits"):
                db.insert("events", [hit(998, at(day, 13), path="/raced")], list(_columns()))
            return result

    assert build_day(Racing(), SHOP, day, DEFAULT_TIMEOUT) is None
    assert current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT) is None
    assert db.query("SELECT count() FROM visits")[0][0] == 0  # its rows are deleted
    assert build_day(db, SHOP, day, DEFAULT_TIMEOUT) is not None


def test_a_hit_stored_twice_is_counted_twice_in_every_report_with_the_summary_or_without(
        db: Database) -> None:
    # A spool replayed after a crash stores a hit again (at least once): a ``new_visit`` hit twice
    # starts two visits at the same instant, and each copy is one visit's, not both visits'.
    day = last_closed(ZONE, MOMENT.instant) - DAY
    landing = hit(1, at(day, 10), path="/a", new_visit=1)
    event = hit(1, at(day, 10, 1), "event", event_category="video", event_action="play", event_name="intro")
    # Two kinds at one instant, both starting a visit; and a visit whose first hit (no new_visit) is
    # stored twice.
    mixed = [hit(2, at(day, 11), "event", event_name="intro", new_visit=1),
             hit(2, at(day, 11), "site_search", search_keyword="brake pads", new_visit=1),
             hit(2, at(day, 11, 1), path="/b")]
    again = hit(3, at(day, 12), path="/c")
    load(db, [landing, landing, event, event, hit(1, at(day, 10, 2), path="/b"), *mixed, again, again])
    summary = build(db)
    period = [("period", CUSTOM), ("from", day.isoformat()), ("to", day.isoformat())]
    for filters in ([], [("entry_page", "/a")], [("source", "")], [("page", "/a")]):
        with_summary, without = query(period + filters, summary), query(period + filters, None)
        every = (*SOME, "search_keywords", "event_categories")
        assert answers(db, with_summary, every) == answers(db, without, every), filters
    for s in (summary, None):
        pages = {r["page"]: r["pageviews"] for r in breakdown(db, query(period, s), "pages")["rows"]}
        assert pages == {"/a": 2, "/b": 2, "/c": 2}
        landed = query([*period, ("entry_page", "/a")], s)
        landed_pages = breakdown(db, landed, "pages")["rows"]
        assert {r["page"]: r["pageviews"] for r in landed_pages} == {"/a": 2, "/b": 1}
        assert [r["events"] for r in breakdown(db, landed, "event_names")["rows"]] == [2]
        searched = query([*period, ("source", "")], s)
        named = {(r["event_category"], r["event_name"]): r["events"]
                 for r in breakdown(db, searched, "event_names")["rows"]}
        assert named == {("video", "intro"): 2, ("", "intro"): 1}
        assert [r["searches"] for r in breakdown(db, searched, "search_keywords")["rows"]] == [1]


def test_builds_made_in_another_time_zone_or_timeout_are_not_read(db: Database) -> None:
    load(db, random_hits(seed=9, visitors=10))
    build(db)
    assert current_builds(db, SHOP.id, "Pacific/Kiritimati", DEFAULT_TIMEOUT) is None
    assert current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT + 60) is None


def _columns() -> tuple[str, ...]:
    from gateway.storage.schema import EVENTS_TABLE

    return EVENTS_TABLE.columns


def test_a_day_is_closed_25_hours_after_its_end() -> None:
    end = DateRange(TODAY - DAY, TODAY - DAY, ZONE, CUSTOM).bounds()[1]
    assert last_closed(ZONE, end + dt.timedelta(hours=25)) == TODAY - DAY
    assert last_closed(ZONE, end + dt.timedelta(hours=25) - dt.timedelta(seconds=1)) == TODAY - 2 * DAY


def test_a_visitor_moving_within_a_day_is_counted_once_by_the_summary_under_one_place(db: Database) -> None:
    # Pinned down, not wished for: the summary stores a visit with one place (one of its visitor's
    # that day), while cutting at query time under a city filter cuts the visits of that city's hits.
    day = last_closed(ZONE, MOMENT.instant) - DAY
    load(db, [hit(1, at(day, 10), path="/a", city_name="Berlin"),
              hit(1, at(day, 10, 5), path="/b", city_name="Munich")])
    summary = build(db)
    period = [("period", CUSTOM), ("from", day.isoformat()), ("to", day.isoformat())]

    def visits(city: str, s: Summary | None) -> int:
        return int(figures(db, query([*period, ("city", city)], s))["visits"]["value"] or 0)

    assert visits("Berlin", None) == visits("Munich", None) == 1  # one visit of each city's hit
    assert visits("Berlin", summary) + visits("Munich", summary) == 1  # the visit, whole, under one
    assert figures(db, query(period, summary)) == figures(db, query(period, None))  # unfiltered: equal
