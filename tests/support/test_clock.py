"""The tests' clock: moments read from the environment, day lengths, and the hard moments."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.support.clock import (
    DEFAULT_ZONE,
    ENV,
    Moment,
    bucket_of,
    current_moment,
    day_length,
    hard_moments,
    hours_of,
    local_time,
    parse_moment,
    summer_time_starts,
)


def test_a_moment_is_a_local_time_in_a_zone() -> None:
    moment = parse_moment("2027-01-01T00:01 Asia/Shanghai")
    assert moment.instant == dt.datetime(2026, 12, 31, 16, 1, tzinfo=dt.UTC)
    assert moment.today == dt.date(2027, 1, 1)  # the site's date, while UTC is still in 2026
    assert moment.at(moment.today, 9) == dt.datetime(2027, 1, 1, 1, 0, tzinfo=dt.UTC)
    assert parse_moment(moment.spec) == Moment(moment.instant, moment.zone, moment.spec)
    with_offset = parse_moment("2026-06-01T12:00:00.75+00:00")  # Berlin was on summer time
    assert (with_offset.zone, with_offset.local.hour) == (DEFAULT_ZONE, 14)
    assert with_offset.instant.microsecond == 0  # whole seconds, as the spec round-trips them


@pytest.mark.parametrize("text", ["tomorrow", "2027-01-01T00:01 Mars/Olympus", "2027-13-01T00:00 UTC",
                                  "2027-01-01T00:01 Asia"])
def test_a_bad_moment_names_the_variable(text: str) -> None:
    with pytest.raises(ValueError, match=ENV):
        parse_moment(text)


def test_the_moment_is_the_real_clock_unless_set() -> None:
    real = current_moment({})
    assert abs(real.instant - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert real.zone == DEFAULT_ZONE
    later = real.instant + dt.timedelta(days=30)
    assert current_moment({ENV: f"{later.isoformat()} Asia/Shanghai"}).instant == later
    # Far back, ClickHouse's TTL would take the rows placed around it before the tests read them.
    with pytest.raises(ValueError, match="days ago"):
        current_moment({ENV: "2020-01-01T00:00 UTC"})


def test_the_second_of_two_equal_local_times_stays_the_second() -> None:
    second = Moment(dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC), "Europe/Berlin")  # 02:30 CET
    assert second.spec == "2026-10-25T02:30:00+01:00 Europe/Berlin"
    assert parse_moment(second.spec).instant == second.instant


# Days of 2026, when the clocks have already moved as the time-zone database says: its rules for the
# years ahead can still change, and these are calendar checks that read no "today".
def test_hourly_buckets_count_whole_hours_from_the_days_start() -> None:
    day = dt.date(2026, 4, 5)  # Lord Howe: 02:00 becomes 01:30
    assert bucket_of("Australia/Lord_Howe", day, local_time("Australia/Lord_Howe", day, 9)) == (
        9, "2026-04-05T08:30")
    berlin = dt.date(2026, 3, 29)  # 02:00 becomes 03:00
    nine = local_time("Europe/Berlin", berlin, 9)
    assert bucket_of("Europe/Berlin", berlin, nine) == (8, "2026-03-29T09:00")


def test_days_last_23_24_or_25_hours() -> None:
    assert hours_of("Europe/Berlin", dt.date(2026, 3, 29)) == 23
    assert hours_of("Europe/Berlin", dt.date(2026, 10, 25)) == 25
    assert hours_of("Asia/Shanghai", dt.date(2026, 3, 29)) == 24
    # Lord Howe Island moves its clocks by half an hour: 25 buckets, the last one half an hour long.
    assert day_length("Australia/Lord_Howe", dt.date(2026, 4, 5)) == dt.timedelta(hours=24, minutes=30)
    assert hours_of("Australia/Lord_Howe", dt.date(2026, 4, 5)) == 25
    # Santiago moves its clocks at midnight: that day starts at 01:00 and has 23 hours.
    assert local_time("America/Santiago", dt.date(2026, 9, 6), 0).astimezone(
        ZoneInfo("America/Santiago")).hour == 1
    assert hours_of("America/Santiago", dt.date(2026, 9, 6)) == 23
    # Minutes are added in UTC: 90 minutes after 01:00 on the short day is 03:30 local.
    assert local_time("Europe/Berlin", dt.date(2026, 3, 29), 1, 90) == dt.datetime(
        2026, 3, 29, 1, 30, tzinfo=dt.UTC)


def test_the_hard_moments_are_the_next_ones_and_each_is_hard() -> None:
    after = dt.date(2025, 12, 6)  # the moments of 2026: past, so the database's rules for them are settled
    moments = hard_moments(after)
    assert len({m.name for m in moments}) == len(moments)
    assert all(m.today > after for m in moments)
    assert all(parse_moment(m.spec).instant == m.instant for m in moments)
    lengths = {day_length(m.zone, m.today) / dt.timedelta(hours=1) for m in moments}
    assert {23, 23.5, 24, 25} <= lengths
    assert any(hours_of(m.zone, m.today - dt.timedelta(days=1)) == 23 for m in moments)  # the day after
    assert any(m.today != m.instant.date() for m in moments)  # the site's date is not the UTC date
    assert any(m.local.minute == 1 and m.local.hour == 0 for m in moments)
    assert any(m.local.minute == 59 and m.local.hour == 23 for m in moments)
    assert any((m.today.month, m.today.day) == (1, 1) for m in moments)
    assert any((m.today.month, m.today.day) == (2, 29) for m in moments)
    assert {m.today for m in moments if m.zone == "Europe/Berlin"} == {
        dt.date(2026, 3, 29), dt.date(2026, 3, 30), dt.date(2026, 10, 25), dt.date(2026, 10, 26)}
    # A year later, they are a year later: never in the past, so the rows placed around them are
    # never past their retention either; on New Year's Eve too.
    assert min(m.today for m in hard_moments(after.replace(year=2030))) > dt.date(2030, 12, 6)
    assert min(m.today for m in hard_moments(dt.date(2025, 12, 31))) > dt.date(2025, 12, 31)
    # A zone that stops moving its clocks (Shanghai did in 1991) has no summer-time day to find.
    assert summer_time_starts("Asia/Shanghai", dt.date(2025, 12, 6)) is None
