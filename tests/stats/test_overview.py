"""Top figures on the hand-made shop: visits, bounces, durations, filters of each level, comparison."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.stats.overview import change, figures
from gateway.stats.query import parse_query
from gateway.storage.clickhouse import Database
from tests.stats.data import KEPT, TODAY, ZONE

# ``dated`` (run at every hard moment too, tests/test_any_moment.py): today against the previous day,
# and one filter of each level; the other filters take the same date path.
DATED = pytest.mark.dated


def values(db: Database, **params: str) -> dict[str, Any]:
    result = figures(db, parse_query({"period": "today", **params}, 1, ZONE, TODAY, kept_from=KEPT))
    return {key: figure["value"] for key, figure in result.items()}


@pytest.mark.dated
def test_figures_and_the_previous_day(shop: Database) -> None:
    result = figures(shop, parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT))
    assert list(result) == ["visitors", "visits", "actions", "actions_per_visit", "pageviews",
                            "views_per_visit", "bounce_rate", "avg_duration"]
    # A: 10-minute visit (5 actions) + bounce; B: 4 minutes (3 actions: the ping is none); C: bounce.
    # Yesterday: D, 2 pages in a minute.
    assert result == {
        "visitors": {"value": 3, "previous": 1, "change": 200.0},
        "visits": {"value": 4, "previous": 1, "change": 300.0},
        "actions": {"value": 10, "previous": 2, "change": 400.0},
        "actions_per_visit": {"value": 2.5, "previous": 2.0, "change": 25.0},
        "pageviews": {"value": 6, "previous": 2, "change": 200.0},
        "views_per_visit": {"value": 1.5, "previous": 2.0, "change": -25.0},
        "bounce_rate": {"value": 50.0, "previous": 0.0, "change": None},
        "avg_duration": {"value": 210, "previous": 60, "change": 250.0},
    }


def test_no_data_gives_zeros_and_nones(shop: Database) -> None:
    a_year_before = {"from": (TODAY - dt.timedelta(days=400)).isoformat(),
                     "to": (TODAY - dt.timedelta(days=370)).isoformat()}
    assert values(shop, period="custom", **a_year_before) == {
        "visitors": 0, "visits": 0, "actions": 0, "actions_per_visit": None, "pageviews": 0,
        "views_per_visit": None, "bounce_rate": None, "avg_duration": None}


@pytest.mark.parametrize(("params", "expected"), [
    # hit level: all of A's hits
    pytest.param({"city": "Berlin"}, (1, 2, 4, 50.0, 300), marks=DATED),
    # visit level: A's first visit only, not its later direct bounce
    pytest.param({"source": "Google"}, (1, 1, 3, 0.0, 600), marks=DATED),
    ({"referrer_type": "direct"}, (1, 1, 1, 100.0, 0)),
    ({"utm_campaign": "spring"}, (1, 1, 1, 0.0, 240)),
    ({"entry_page": "/"}, (2, 2, 4, 50.0, 300)),
    ({"exit_page": "/pricing"}, (1, 1, 1, 0.0, 240)),
    # contains: visits that viewed /pricing (A's first, B's), all their pages counted
    pytest.param({"page": "/pricing"}, (2, 2, 4, 0.0, 420), marks=DATED),
    ({"event_category": "video"}, (1, 1, 3, 0.0, 600)),
    ({"keyword": "shoes"}, (1, 1, 1, 0.0, 240)),
    ({"download": "https://shop.example/files/a.pdf"}, (1, 1, 3, 0.0, 600)),
    # levels combined
    ({"country": "DE", "referrer_type": "website"}, (1, 1, 1, 100.0, 0)),
    ({"page": "/pricing", "source": "newsletter"}, (1, 1, 1, 0.0, 240)),
    ({"page": "/nowhere"}, (0, 0, 0, None, None)),
])
def test_filters_select_visits(shop: Database, params: dict[str, str], expected: tuple[Any, ...]) -> None:
    got = values(shop, **params)
    keys = ("visitors", "visits", "pageviews", "bounce_rate", "avg_duration")
    assert tuple(got[k] for k in keys) == expected


def test_change() -> None:
    assert change(3, 2) == 50.0
    assert change(1, 0) is None
    assert change(None, 2) is None
    assert change(0, 4) == -100.0
