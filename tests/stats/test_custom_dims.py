"""Custom dimensions as reports and filters, on hand-placed hits.

The shop names two: 1 "Customer type" (visit scope), 2 "Car model" (action scope). Three days before
today (a closed day, which the visit summary can hold) and today, in the shop's zone:

- visitor 1 at 10:00: / (type "pro"), /cars (type "pro", model Golf), an event (Golf), /cars/polo
  (Polo): one visit of 4 actions, type "pro".
- visitor 2 at 11:00: /, /x (type "new"), /y (type "pro"): one visit of 3 actions whose type is the
  last one set, "pro"; then at 14:00 a bounce on / setting nothing.
- visitor 3 today at 09:00: / (type "new", Golf) and a download (Golf): 2 actions.
- visitor 4 today at 12:00: a bounce on /, nothing set.
Site 2's hit with type "pro" is never counted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway.config.dimensions import CustomDimension
from gateway.config.sites import Site
from gateway.stats.custom_dims import breakdown, dim_of, dims_of
from gateway.stats.engine import Span
from gateway.stats.overview import figures
from gateway.stats.query import CUSTOM, QueryError, StatsQuery, parse_query
from gateway.stats.reports import breakdown as any_breakdown
from gateway.stats.summary import current_builds, plan
from gateway.stats.summary_build import build_all
from gateway.stats.visit_log import visit_log
from gateway.stats.visits import DEFAULT_TIMEOUT
from gateway.storage.clickhouse import Database, connect
from tests.stats.data import KEPT, SHOP, TODAY, ZONE, at, hit, load
from tests.support.clock import MOMENT

SITE = Site(id=1, name="Shop", origins=(), timezone=ZONE, custom_dimensions=(
    CustomDimension(1, "Customer type", "visit"), CustomDimension(2, "Car model", "action")))
EARLIER = TODAY - dt.timedelta(days=3)
RANGE = [("period", CUSTOM), ("from", EARLIER.isoformat()), ("to", TODAY.isoformat())]


def dims(**values: str) -> dict[str, Any]:
    return {"dimensions": {f"dimension{k[1:]}": v for k, v in values.items()}}


def custom_hits() -> list[tuple[Any, ...]]:
    day = EARLIER
    return [
        hit(1, at(day, 10, 0), path="/", **dims(d1="pro")),
        hit(1, at(day, 10, 2), path="/cars", **dims(d1="pro", d2="Golf")),
        hit(1, at(day, 10, 3), "event", event_category="cars", **dims(d2="Golf")),
        hit(1, at(day, 10, 5), path="/cars/polo", **dims(d2="Polo")),
        hit(2, at(day, 11, 0), path="/"),
        hit(2, at(day, 11, 1), path="/x", **dims(d1="new")),
        hit(2, at(day, 11, 2), path="/y", **dims(d1="pro")),
        hit(2, at(day, 14, 0), path="/"),
        hit(3, at(TODAY, 9, 0), path="/", **dims(d1="new", d2="Golf")),
        hit(3, at(TODAY, 9, 1), "download", link_url="https://shop.example/golf.pdf", **dims(d2="Golf")),
        hit(4, at(TODAY, 12, 0), path="/"),
        hit(1, at(TODAY, 9, 0), path="/", site=2, **dims(d1="pro")),
    ]


@pytest.fixture(scope="module")
def cars(chdb_path: Path) -> Iterator[Database]:
    name = f"cars_{uuid.uuid4().hex[:12]}"
    database = load(connect(f"chdb://{chdb_path}?database={name}"), custom_hits())
    yield database
    database.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")
    database.close()


def query(*filters: tuple[str, str]) -> StatsQuery:
    return parse_query([*RANGE, *filters], 1, ZONE, TODAY, kept_from=KEPT, custom=dims_of(SITE))


def values(db: Database, q: StatsQuery) -> dict[str, Any]:
    return {key: figure["value"] for key, figure in figures(db, q).items()
            if key in ("visitors", "visits", "actions", "pageviews", "bounce_rate")}


def test_the_visit_dimension_report_counts_each_visit_under_the_last_value_it_set(cars: Database) -> None:
    """Visitor 2's first visit set "new" then "pro": it counts under "pro" only."""
    result = breakdown(cars, query(), "1")
    assert result["title"] == "Customer type" and result["scope"] == "visit" and result["dimension"] == 1
    assert [c["label"] for c in result["columns"]] == ["Customer type", "Visits", "Visitors", "Actions"]
    assert result["rows"] == [
        {"dimension1": "", "visits": 2, "visitors": 2, "actions": 2},
        {"dimension1": "pro", "visits": 2, "visitors": 2, "actions": 7},
        {"dimension1": "new", "visits": 1, "visitors": 1, "actions": 2},
    ]


def test_the_action_dimension_report_counts_actions(cars: Database) -> None:
    result = any_breakdown(cars, query(), "custom_dimensions", dimension="2")
    assert result["title"] == "Car model" and result["scope"] == "action"
    assert result["rows"] == [
        {"dimension2": "", "actions": 6, "visitors": 3},
        {"dimension2": "Golf", "actions": 4, "visitors": 2},
        {"dimension2": "Polo", "actions": 1, "visitors": 1},
    ]
    assert breakdown(cars, query(), "2", search="gol")["rows"] == [
        {"dimension2": "Golf", "actions": 4, "visitors": 2}]


@pytest.mark.parametrize(("filters", "expected"), [
    ((), dict(visitors=4, visits=5, actions=11, pageviews=9, bounce_rate=40.0)),
    ((("dimension1", "pro"),), dict(visitors=2, visits=2, actions=7, pageviews=6, bounce_rate=0.0)),
    ((("dimension1", ""),), dict(visitors=2, visits=2, actions=2, pageviews=2, bounce_rate=100.0)),
    ((("dimension1", "vip"),), dict(visitors=0, visits=0, actions=0, pageviews=0, bounce_rate=None)),
    ((("dimension2", "Golf"),), dict(visitors=2, visits=2, actions=6, pageviews=4, bounce_rate=0.0)),
    ((("dimension1", "pro"), ("dimension2", "Polo")),
     dict(visitors=1, visits=1, actions=4, pageviews=3, bounce_rate=0.0)),
    ((("dimension2", "Golf"), ("country", "DE")),
     dict(visitors=2, visits=2, actions=6, pageviews=4, bounce_rate=0.0)),
])
def test_a_filter_narrows_the_figures_to_whole_visits(cars: Database, filters: tuple[tuple[str, str], ...],
                                                      expected: dict[str, Any]) -> None:
    assert values(cars, query(*filters)) == expected
    # The visits log lists the same visits under the same filter.
    log = visit_log(cars, query(*filters), b"k" * 32, limit=100)["visits"]
    assert (len(log), sum(v["actions"] for v in log)) == (expected["visits"], expected["actions"])


def test_a_filter_narrows_every_report(cars: Database) -> None:
    pages = any_breakdown(cars, query(("dimension2", "Golf")), "pages")["rows"]
    assert [(r["page"], r["visitors"]) for r in pages] == [("/", 2), ("/cars", 1), ("/cars/polo", 1)]
    models = breakdown(cars, query(("dimension1", "pro")), "2")["rows"]
    assert models == [{"dimension2": "", "actions": 4, "visitors": 2},
                      {"dimension2": "Golf", "actions": 2, "visitors": 1},
                      {"dimension2": "Polo", "actions": 1, "visitors": 1}]
    types = breakdown(cars, query(("dimension2", "Golf")), "1")["rows"]
    assert types == [{"dimension1": "new", "visits": 1, "visitors": 1, "actions": 2},
                     {"dimension1": "pro", "visits": 1, "visitors": 1, "actions": 4}]
    # A report filtered on its own dimension: the row clicked.
    assert breakdown(cars, query(("dimension1", "new")), "1")["rows"] == [
        {"dimension1": "new", "visits": 1, "visitors": 1, "actions": 2}]


@pytest.mark.parametrize(("number", "message"), [
    ("", "dimension: required, the number of a custom dimension: 1 (Customer type), 2 (Car model)"),
    ("3", "dimension: '3' is not a custom dimension of this site: 1 (Customer type), 2 (Car model)"),
    ("x", "dimension: 'x' is not a custom dimension"),
])
def test_the_report_needs_a_configured_dimension(cars: Database, number: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        breakdown(cars, query(), number)


def test_a_site_without_custom_dimensions_says_where_to_configure_them(cars: Database) -> None:
    q = parse_query(RANGE, 1, ZONE, TODAY, kept_from=KEPT)
    with pytest.raises(QueryError, match=r"no custom dimensions \(configure them under"):
        breakdown(cars, q, "1")
    with pytest.raises(QueryError, match="dimension1: no custom dimension 1 is configured"):
        parse_query([*RANGE, ("dimension1", "pro")], 1, ZONE, TODAY, kept_from=KEPT)


def test_a_filter_on_an_unconfigured_dimension_is_refused() -> None:
    with pytest.raises(QueryError, match="dimension7: no custom dimension 7 is configured for this site"):
        query(("dimension7", "x"))
    with pytest.raises(QueryError, match="dimension1: given more than once"):
        query(("dimension1", "a"), ("dimension1", "b"))


def test_custom_dimensions_keep_their_scope_and_name() -> None:
    visit, action = dims_of(SITE)
    assert (visit.key, visit.label, visit.level, visit.last_set) == (
        "dimension1", "Customer type", "visit", True)
    assert (action.key, action.label, action.level) == ("dimension2", "Car model", "contains")
    assert dim_of(CustomDimension(999, "x", "action")).expr == "dimensions['dimension999']"


@pytest.mark.dated  # which days are closed (read from the summary) depends on the moment
def test_with_the_summary_built_a_custom_filter_is_answered_from_the_events(cars: Database) -> None:
    """The summary holds the closed day but no custom dimension: a query filtering on one, or reporting
    one, reads that day's events instead, and every answer is the hand-computed one; without such a
    filter the summary is read and agrees."""
    done = build_all(cars, [SHOP], MOMENT.instant, DEFAULT_TIMEOUT, lambda *_: KEPT)
    assert not done["failed"]
    summary = current_builds(cars, SHOP.id, ZONE, DEFAULT_TIMEOUT)
    assert summary is not None and summary.first <= EARLIER <= summary.last

    def summarised(*filters: tuple[str, str]) -> StatsQuery:
        return replace(query(*filters), summary=summary)

    assert plan(summarised(), Span.of(summarised())) is not None
    assert plan(summarised(("dimension1", "pro")), Span.of(summarised())) is None
    assert plan(summarised(("dimension2", "Golf")), Span.of(summarised())) is None
    assert values(cars, summarised()) == dict(
        visitors=4, visits=5, actions=11, pageviews=9, bounce_rate=40.0)
    assert values(cars, summarised(("dimension1", "pro"))) == dict(
        visitors=2, visits=2, actions=7, pageviews=6, bounce_rate=0.0)
    assert values(cars, summarised(("dimension2", "Golf"))) == dict(
        visitors=2, visits=2, actions=6, pageviews=4, bounce_rate=0.0)
    for number in ("1", "2"):
        assert breakdown(cars, summarised(), number) == breakdown(cars, query(), number)
    assert any_breakdown(cars, summarised(("dimension1", "pro")), "pages") == any_breakdown(
        cars, query(("dimension1", "pro")), "pages")
