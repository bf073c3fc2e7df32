"""The chart's buckets: hours of one day or days, in the site's zone, zero-filled, previous aligned."""

from __future__ import annotations

import datetime as dt

from gateway.stats.query import parse_query
from gateway.stats.timeseries import timeseries
from gateway.storage.clickhouse import Database
from tests.stats.data import TODAY, A, B, at, hit, load


def test_hours_of_today_with_yesterday_beside(shop: Database) -> None:
    result = timeseries(shop, parse_query({"period": "today"}, 1, "UTC", TODAY))
    assert result["unit"] == "hour"
    assert result["labels"][:2] == ["2026-11-02T00:00", "2026-11-02T01:00"] and len(result["labels"]) == 24
    # 09:00 A (3 pages), 10:00 B (1), 11:00 C (1), 12:00 A (1); yesterday 15:00 D (2 pages).
    assert {h: v for h, v in enumerate(result["visitors"]) if v} == {9: 1, 10: 1, 11: 1, 12: 1}
    assert {h: v for h, v in enumerate(result["pageviews"]) if v} == {9: 3, 10: 1, 11: 1, 12: 1}
    assert {h: v for h, v in enumerate(result["previous_visitors"]) if v} == {15: 1}
    assert {h: v for h, v in enumerate(result["previous_pageviews"]) if v} == {15: 2}


def test_days_zero_filled(shop: Database) -> None:
    result = timeseries(shop, parse_query({"period": "7d"}, 1, "UTC", TODAY))
    assert result["unit"] == "day"
    assert result["labels"] == [f"2026-10-{d}" for d in range(27, 32)] + ["2026-11-01", "2026-11-02"]
    assert result["visitors"] == [0, 0, 0, 0, 0, 1, 3]
    assert result["pageviews"] == [0, 0, 0, 0, 0, 2, 6]
    assert result["previous_visitors"] == [0] * 7


def test_a_visit_filter_counts_only_the_matching_visits_hits(shop: Database) -> None:
    result = timeseries(shop, parse_query({"period": "today", "source": "Google"}, 1, "UTC", TODAY))
    assert {h: v for h, v in enumerate(result["pageviews"]) if v} == {9: 3}  # not A's 12:00 bounce
    assert sum(result["previous_pageviews"]) == 0


def test_days_are_the_sites_days(db: Database) -> None:
    # 20:00 UTC on 1 November is 04:00 on 2 November in Shanghai; 17:00 UTC on the 2nd is the 3rd there.
    load(db, [hit(A, at(TODAY - dt.timedelta(days=1), 20), path="/"), hit(B, at(TODAY, 17), path="/")])
    shanghai = timeseries(db, parse_query({"period": "today"}, 1, "Asia/Shanghai", TODAY))
    assert {h: v for h, v in enumerate(shanghai["pageviews"]) if v} == {4: 1}
    utc = timeseries(db, parse_query({"period": "today"}, 1, "UTC", TODAY))
    assert {h: v for h, v in enumerate(utc["pageviews"]) if v} == {17: 1}


def test_the_day_summer_time_ends_has_25_hours(db: Database) -> None:
    day = dt.date(2026, 10, 25)  # Berlin: 03:00 CEST becomes 02:00 CET
    utc = dt.UTC
    load(db, [
        hit(A, dt.datetime(2026, 10, 24, 21, 30, tzinfo=utc), path="/"),  # 23:30 CEST the day before
        hit(A, dt.datetime(2026, 10, 25, 0, 30, tzinfo=utc), path="/"),  # 02:30 CEST
        hit(B, dt.datetime(2026, 10, 25, 1, 30, tzinfo=utc), path="/"),  # 02:30 CET
        hit(B, dt.datetime(2026, 10, 25, 22, 30, tzinfo=utc), path="/"),  # 23:30 CET
    ])
    q = parse_query({"period": "custom", "from": "2026-10-25", "to": "2026-10-25"}, 1, "Europe/Berlin", day)
    result = timeseries(db, q)
    assert len(result["labels"]) == 25
    assert result["labels"][2:4] == ["2026-10-25T02:00", "2026-10-25T02:00"]
    assert {h: v for h, v in enumerate(result["pageviews"]) if v} == {2: 1, 3: 1, 24: 1}
    assert {h: v for h, v in enumerate(result["previous_pageviews"]) if v} == {23: 1}
    span = {"period": "custom", "from": "2026-10-24", "to": "2026-10-26"}
    days = parse_query(span, 1, "Europe/Berlin", day)
    assert timeseries(db, days)["pageviews"] == [1, 3, 0]
