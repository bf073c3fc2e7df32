"""Parsing dashboard parameters: periods, custom ranges, filters, errors that name the parameter."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.stats.query import FILTERS, PERIODS, DateRange, Filter, QueryError, parse_query

TODAY = dt.date(2026, 11, 21)
KEPT = dt.datetime(2025, 10, 23, tzinfo=dt.UTC)  # carried to the engine, which applies it


def parse(params: dict[str, str] | list[tuple[str, str]], tz: str = "UTC"):  # type: ignore[no-untyped-def]
    return parse_query(params, 1, tz, TODAY, kept_from=KEPT)


@pytest.mark.parametrize(("period", "start", "end", "label"), [
    ("today", "2026-11-21", "2026-11-21", "Today"),
    ("yesterday", "2026-11-20", "2026-11-20", "Yesterday"),
    ("7d", "2026-11-15", "2026-11-21", "Last 7 days"),
    ("30d", "2026-10-23", "2026-11-21", "Last 30 days"),
    ("90d", "2026-08-24", "2026-11-21", "Last 90 days"),
    ("month", "2026-11-01", "2026-11-21", "This month"),
    ("lastmonth", "2026-10-01", "2026-10-31", "Last month"),
    ("12mo", "2025-11-22", "2026-11-21", "Last 12 months"),
])
def test_presets(period: str, start: str, end: str, label: str) -> None:
    q = parse({"period": period})
    assert (q.range.start.isoformat(), q.range.end.isoformat(), q.range.label) == (start, end, label)
    assert q.range.hourly == (start == end)


def test_the_default_is_30_days_and_every_preset_is_listed() -> None:
    assert parse({}).range.period == "30d"
    assert [key for key, _ in PERIODS] == ["today", "yesterday", "7d", "30d", "90d", "month", "lastmonth",
                                            "12mo"]


def test_custom_range_label_and_previous() -> None:
    q = parse({"period": "custom", "from": "2026-11-01", "to": "2026-11-21"})
    assert q.range.label == "1 Nov – 21 Nov 2026"
    previous = q.range.previous()
    assert (previous.start, previous.end) == (dt.date(2026, 10, 11), dt.date(2026, 10, 31))
    assert previous.label == "11 Oct – 31 Oct 2026"
    across = DateRange(dt.date(2025, 12, 30), dt.date(2026, 1, 2), "UTC", "custom")
    assert across.label == "30 Dec 2025 – 2 Jan 2026"
    assert DateRange(TODAY, TODAY, "UTC", "custom").label == "21 Nov 2026"


def test_bounds_are_local_midnights_in_utc() -> None:
    shanghai = DateRange(TODAY, TODAY, "Asia/Shanghai", "today").bounds()
    assert shanghai == (dt.datetime(2026, 11, 20, 16, tzinfo=dt.UTC),
                        dt.datetime(2026, 11, 21, 16, tzinfo=dt.UTC))
    # Berlin leaves summer time on 25 October 2026: that day has 25 hours.
    start, end = DateRange(dt.date(2026, 10, 25), dt.date(2026, 10, 25), "Europe/Berlin", "custom").bounds()
    assert (start.hour, end.hour, (end - start).total_seconds()) == (22, 23, 25 * 3600)


def test_filters_keep_their_order_and_round_trip() -> None:
    pairs = [("period", "custom"), ("from", "2026-11-01"), ("to", "2026-11-02"), ("country", "DE"),
             ("city", "Berlin"), ("limit", "50")]
    q = parse(pairs)
    assert q.filters == (Filter("country", "DE"), Filter("city", "Berlin"))
    assert q.params() == pairs[:-1]
    assert parse(q.params()) == q
    assert parse({"period": "7d", "source": ""}).params() == [("period", "7d"), ("source", "")]


def test_filter_table_levels() -> None:
    assert FILTERS["city"].level == "hit" and FILTERS["source"].level == "visit"
    assert FILTERS["page"].level == "contains" and FILTERS["entry_page"].level == "visit"
    assert len(FILTERS) == 24


@pytest.mark.parametrize(("params", "names"), [
    ({"period": "forever"}, "period"),
    ({"period": "custom", "to": "2026-11-01"}, "from"),
    ({"period": "custom", "from": "2026-11-02", "to": "2026-11-01"}, "from"),
    ({"period": "custom", "from": "2026-13-01", "to": "2026-11-01"}, "from"),
    ({"period": "custom", "from": "1999-12-31", "to": "2026-11-01"}, "from"),
    ({"period": "custom", "from": "2020-01-01", "to": "2026-11-01"}, "to"),
    ({"planet": "mars"}, "planet"),
    ({"city": "x" * 501}, "city"),
    ([("city", "Berlin"), ("city", "Paris")], "city"),
])
def test_errors_name_the_parameter(params: dict[str, str] | list[tuple[str, str]], names: str) -> None:
    with pytest.raises(QueryError, match=rf"^{names}:"):
        parse(params)
