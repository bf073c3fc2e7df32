"""The chart's buckets: hours of one day or days, in the site's zone, zero-filled, previous aligned."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from gateway.stats.query import parse_query
from gateway.stats.timeseries import timeseries
from gateway.storage.clickhouse import Database
from tests.stats.data import KEPT, TODAY, ZONE, A, B, at, bucket, hit, label, load
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


# Seen at a moment ("now", as the dashboard passes it): the buckets still to come are left out, not
# zeros, and the one "now" falls in is named; the previous period is cut to the same buckets.


def seen_at(params: dict[str, str], now: dt.datetime, zone: str = ZONE, today: dt.date = TODAY) -> Any:
    return parse_query(params, 1, zone, today, kept_from=KEPT, now=now)


@pytest.mark.dated
def test_today_ends_at_the_hour_now_falls_in(shop: Database) -> None:
    now = at(TODAY, 16, 30)  # after A's 12:00: every hit of the shop's day is in the past
    result = timeseries(shop, seen_at({"period": "today"}, now))
    n = bucket(TODAY, 16, 30) + 1  # 17 buckets, 00:00 to 16:00 (16 or 18 on a summer-time day)
    assert len(result["labels"]) == n and result["labels"][-1] == label(TODAY, 16, 30)
    assert result["present_index"] == n - 1
    assert nonzero(result, "visitors") == {label(TODAY, hh): 1 for hh in (9, 10, 11, 12)}
    assert result["visitors"][-1] == 0  # 16:00 so far: nothing yet, shown as nothing yet
    # Yesterday's same hours, no more: its 15:00 (D) is in, the hours after 16:00 are not.
    for key in ("visitors", "pageviews", "previous_visitors", "previous_pageviews"):
        assert len(result[key]) == n, key
    assert {h: v for h, v in enumerate(result["previous_pageviews"]) if v} == {bucket(TODAY - DAY, 15): 2}
    # At 10:20 the hits of 11:00 and 12:00 (and yesterday's 15:00) are still to come: not counted.
    # (Lord Howe's hours start at :30 after its clocks move by half an hour: 10:20 is then in 09:30.)
    early = timeseries(shop, seen_at({"period": "today"}, at(TODAY, 10, 20)))
    assert early["labels"][-1] == label(TODAY, 10, 20) and early["present_index"] == bucket(TODAY, 10, 20)
    assert nonzero(early, "pageviews") == {label(TODAY, 9): 3, label(TODAY, 10): 1}
    assert sum(early["previous_pageviews"]) == 0


@pytest.mark.dated
def test_a_minute_after_midnight_today_has_one_bucket(shop: Database) -> None:
    result = timeseries(shop, seen_at({"period": "today"}, at(TODAY, 0, 1)))
    assert result["labels"] == [label(TODAY, 0)]
    assert (result["visitors"], result["pageviews"]) == ([0], [0])
    assert (result["previous_visitors"], result["previous_pageviews"]) == ([0], [0])
    assert result["present_index"] == 0


@pytest.mark.dated
def test_days_end_today_and_a_past_range_is_whole(shop: Database) -> None:
    now = at(TODAY, 10, 30)
    week = timeseries(shop, seen_at({"period": "7d"}, now))
    # Today is the last day and the present one; its hits count whole (a day is one bucket).
    assert week["labels"][-1] == TODAY.isoformat() and week["present_index"] == 6
    assert week["visitors"] == [0, 0, 0, 0, 0, 1, 3]
    month = timeseries(shop, seen_at({"period": "month"}, now))
    n = TODAY.day if TODAY.day > 1 else bucket(TODAY, 10, 30) + 1  # on the 1st, one day: its hours
    assert month["labels"][-1] == (TODAY.isoformat() if TODAY.day > 1 else label(TODAY, 10, 30))
    assert len(month["labels"]) == len(month["previous_visitors"]) == n and month["present_index"] == n - 1
    # A custom range into the future stops today; the previous 6 days are cut to their first 3.
    span = {"period": "custom", "from": (TODAY - 2 * DAY).isoformat(), "to": (TODAY + 3 * DAY).isoformat()}
    ahead = timeseries(shop, seen_at(span, now))
    assert ahead["labels"] == [(TODAY - n * DAY).isoformat() for n in (2, 1, 0)]
    assert (ahead["visitors"], ahead["pageviews"], ahead["present_index"]) == ([0, 1, 3], [0, 2, 6], 2)
    assert ahead["previous_visitors"] == [0, 0, 0]
    # Yesterday is over: every hour, zeros included, and no present bucket.
    yesterday = timeseries(shop, seen_at({"period": "yesterday"}, now))
    assert len(yesterday["labels"]) == hours_of(ZONE, TODAY - DAY) and yesterday["present_index"] is None
    assert len(yesterday["previous_visitors"]) == hours_of(ZONE, TODAY - DAY)
    # A range still to come has no bucket at all.
    later = {"period": "custom", "from": (TODAY + DAY).isoformat(), "to": (TODAY + 2 * DAY).isoformat()}
    future = timeseries(shop, seen_at(later, now))
    assert future["labels"] == future["visitors"] == future["previous_pageviews"] == []
    assert future["present_index"] is None


def test_the_day_summer_time_ends_ends_at_the_second_half_past_two(db: Database) -> None:
    berlin = "Europe/Berlin"
    day = next_change(summer_time_ends)
    first, second = (dt.datetime.combine(day, dt.time(hh, 30), tzinfo=dt.UTC) for hh in (0, 1))  # 02:30 twice
    load(db, [hit(A, first, path="/"), hit(B, second - dt.timedelta(minutes=5), path="/")])  # 02:25 CET
    span = {"period": "custom", "from": day.isoformat(), "to": day.isoformat()}
    # At the first 02:30 the second 02:00 hour is still to come; at the second it is the present one.
    before = timeseries(db, seen_at(span, first, berlin, day))
    assert before["labels"] == [f"{day}T00:00", f"{day}T01:00", f"{day}T02:00"]
    assert before["pageviews"] == [0, 0, 1] and before["present_index"] == 2
    after = timeseries(db, seen_at(span, second, berlin, day))
    assert after["labels"][2:] == [f"{day}T02:00", f"{day}T02:00"] and after["present_index"] == 3
    assert after["pageviews"] == [0, 0, 1, 1]


def test_the_day_summer_time_starts_skips_two_oclock_up_to_now(db: Database) -> None:
    berlin = "Europe/Berlin"
    day = next_change(summer_time_starts)
    load(db, [hit(A, local_time(berlin, day, 1, 30), path="/"),
              hit(B, local_time(berlin, day, 3, 30), path="/")])
    span = {"period": "custom", "from": day.isoformat(), "to": day.isoformat()}
    result = timeseries(db, seen_at(span, local_time(berlin, day, 3, 45), berlin, day))
    assert result["labels"] == [f"{day}T00:00", f"{day}T01:00", f"{day}T03:00"]
    assert result["pageviews"] == [0, 1, 1] and result["present_index"] == 2


def test_a_half_hour_zone_ends_at_its_own_hour(db: Database) -> None:
    kolkata = "Asia/Kolkata"  # UTC+05:30, no summer time: the answer is the same on any day
    load(db, [hit(A, local_time(kolkata, TODAY, 10, 40), path="/"),
              hit(B, local_time(kolkata, TODAY, 11, 5), path="/")])  # still to come at 10:45
    result = timeseries(db, seen_at({"period": "today"}, local_time(kolkata, TODAY, 10, 45), kolkata))
    assert result["labels"] == [f"{TODAY}T{hh:02}:00" for hh in range(11)]
    assert nonzero(result, "pageviews") == {f"{TODAY}T10:00": 1} and result["present_index"] == 10
