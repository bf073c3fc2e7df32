"""The chart's buckets: hours of one day or days, in the site's zone, zero-filled, previous aligned."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from gateway.stats.query import parse_query
from gateway.stats.timeseries import timeseries
from gateway.storage.clickhouse import Database
from tests.stats.data import KEPT, TODAY, ZONE, A, B, bucket, hit, label, load
from tests.support.clock import hours_of, local_time, summer_time_ends, summer_time_starts

# The shop's tests are ``dated`` (run at every hard moment too, tests/test_any_moment.py): their days
# and hours are the run's. The others place rows on days of their own (a zone's, the next summer-time
# change) and answer the same whatever the moment.
DAY = dt.timedelta(days=1)


def nonzero(result: dict[str, Any], key: str) -> dict[str, int]:
    """The buckets of ``result[key]`` that have something, by label."""
    return {label: value for label, value in zip(result["labels"], result[key], strict=True) if value}


def next_change(find: Callable[[str, dt.date], dt.date | None]) -> dt.date:
    """The next day Berlin moves its clocks (found, not fixed: it must be after the run's day)."""
    day = find("Europe/Berlin", TODAY)
    if day is None:
        pytest.skip("Berlin no longer moves its clocks, as the time-zone database says")
    return day


@pytest.mark.dated
def test_hours_of_today_with_yesterday_beside(shop: Database) -> None:
    result = timeseries(shop, parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT))
    assert result["unit"] == "hour"
    # "2026-11-02T00:00", "2026-11-02T01:00", ... (from T01:00 where the day starts at 01:00)
    assert result["labels"][:2] == [label(TODAY, 0), label(TODAY, 0, 60)]
    assert result["labels"][0].startswith(f"{TODAY}T")
    assert len(result["labels"]) == hours_of(ZONE, TODAY)  # 23 or 25 when summer time starts or ends
    # 09:00 A (3 pages), 10:00 B (1), 11:00 C (1), 12:00 A (1); yesterday 15:00 D (2 pages).
    hours = {label(TODAY, hh): 1 for hh in (9, 10, 11, 12)}
    assert nonzero(result, "visitors") == hours
    assert nonzero(result, "pageviews") == {**hours, label(TODAY, 9): 3}
    # The previous day is aligned by bucket: its 15:00 is its bucket 15 (14 or 16 on a summer-time day).
    yesterday_15 = bucket(TODAY - DAY, 15)
    assert {h: v for h, v in enumerate(result["previous_visitors"]) if v} == {yesterday_15: 1}
    assert {h: v for h, v in enumerate(result["previous_pageviews"]) if v} == {yesterday_15: 2}


@pytest.mark.dated
def test_days_zero_filled(shop: Database) -> None:
    result = timeseries(shop, parse_query({"period": "7d"}, 1, ZONE, TODAY, kept_from=KEPT))
    assert result["unit"] == "day"
    assert result["labels"] == [(TODAY - n * DAY).isoformat() for n in range(6, -1, -1)]
    assert result["visitors"] == [0, 0, 0, 0, 0, 1, 3]
    assert result["pageviews"] == [0, 0, 0, 0, 0, 2, 6]
    assert result["previous_visitors"] == [0] * 7


@pytest.mark.dated
def test_a_visit_filter_counts_only_the_matching_visits_hits(shop: Database) -> None:
    result = timeseries(shop, parse_query({"period": "today", "source": "Google"}, 1, ZONE, TODAY,
                                          kept_from=KEPT))
    assert nonzero(result, "pageviews") == {label(TODAY, 9): 3}  # not A's 12:00 bounce
    assert sum(result["previous_pageviews"]) == 0


def test_days_are_the_sites_days(db: Database) -> None:
    # 20:00 UTC the day before is 04:00 today in Shanghai; 17:00 UTC today is tomorrow there.
    load(db, [hit(A, local_time("UTC", TODAY - DAY, 20), path="/"),
              hit(B, local_time("UTC", TODAY, 17), path="/")])
    shanghai = timeseries(db, parse_query({"period": "today"}, 1, "Asia/Shanghai", TODAY, kept_from=KEPT))
    assert nonzero(shanghai, "pageviews") == {f"{TODAY}T04:00": 1}
    utc = timeseries(db, parse_query({"period": "today"}, 1, "UTC", TODAY, kept_from=KEPT))
    assert nonzero(utc, "pageviews") == {f"{TODAY}T17:00": 1}


def test_the_day_summer_time_ends_has_25_hours(db: Database) -> None:
    berlin = "Europe/Berlin"
    day = next_change(summer_time_ends)  # 03:00 CEST becomes 02:00 CET
    # 02:30 comes twice that night: as a UTC instant, 00:30 (summer time) and then 01:30.
    half_past_two = dt.datetime.combine(day, dt.time(0, 30), tzinfo=dt.UTC)
    load(db, [
        hit(A, local_time(berlin, day - DAY, 23, 30), path="/"),  # the day before
        hit(A, half_past_two, path="/"),  # 02:30 CEST
        hit(B, half_past_two + dt.timedelta(hours=1), path="/"),  # 02:30 CET, an hour later
        hit(B, local_time(berlin, day, 23, 30), path="/"),
    ])
    # Seen on that day: "today" bounds custom dates (a year ahead at most), and the next change can
    # be 371 days away.
    q = parse_query({"period": "custom", "from": day.isoformat(), "to": day.isoformat()}, 1, berlin, day,
                    kept_from=KEPT)
    result = timeseries(db, q)
    assert len(result["labels"]) == 25
    assert result["labels"][2:4] == [f"{day}T02:00", f"{day}T02:00"]
    assert {h: v for h, v in enumerate(result["pageviews"]) if v} == {2: 1, 3: 1, 24: 1}
    assert {h: v for h, v in enumerate(result["previous_pageviews"]) if v} == {23: 1}
    span = {"period": "custom", "from": (day - DAY).isoformat(), "to": (day + DAY).isoformat()}
    assert timeseries(db, parse_query(span, 1, berlin, day, kept_from=KEPT))["pageviews"] == [1, 3, 0]


def test_the_day_summer_time_starts_has_23_hours(db: Database) -> None:
    berlin = "Europe/Berlin"
    day = next_change(summer_time_starts)  # 02:00 CET becomes 03:00 CEST
    load(db, [
        hit(A, local_time(berlin, day, 1, 30), path="/"),  # CET
        hit(B, local_time(berlin, day, 3, 30), path="/"),  # CEST, an hour later
        hit(B, local_time(berlin, day, 23, 30), path="/"),
    ])
    q = parse_query({"period": "custom", "from": day.isoformat(), "to": day.isoformat()}, 1, berlin, day,
                    kept_from=KEPT)
    result = timeseries(db, q)
    assert len(result["labels"]) == 23
    assert result["labels"][1:3] == [f"{day}T01:00", f"{day}T03:00"]  # no 02:00 that night
    assert {h: v for h, v in enumerate(result["pageviews"]) if v} == {1: 1, 2: 1, 22: 1}
