"""The tests' "now": one moment per run, the real clock unless ``CONSENT_GATEWAY_TEST_NOW`` sets one.

Why tests place dated rows around this moment rather than on fixed days: ClickHouse deletes events
past their retention by its own clock (the events table's TTL), so rows written on a fixed day are
gone once that day is older than their retention. The stats fixtures, fixed on 2 November 2026 with
30 days' retention, stopped working on 2 December 2026.

The variable sets the moment a run lives at, as a local time (its offset optional) and the IANA zone
it is read in, at most 300 days back; ``python -m tests.support.clock`` lists the coming year's hard
moments in that form:

    CONSENT_GATEWAY_TEST_NOW="<YYYY-MM-DDTHH:MM> <Area/City>" ./scripts/test -m dated

The stats tests' shop and the dashboard tests' first site then live in that zone, and their clock
is pinned to that instant. ``HARD_MOMENTS`` lists where date code breaks (New Year, the days summer
time starts and ends and the days after, a minute before and after local midnight, clocks moved by
half an hour or at midnight, a leap day), the next ones after the real date;
``tests/test_any_moment.py`` runs the tests marked ``dated`` at each. A test is ``dated`` when its
answer could change with the moment (rows around "now", "today", "the last 7 days", closed days),
and then one or two per date path: the other report families or filters that read the same range
the same way run once, at the run's moment, as do tests on days of their own. Only the fixtures move:
ClickHouse keeps its real clock (libfaketime cannot move chDB's), which is why fixture rows carry
``FIXTURE_RETENTION_DAYS`` and a moment may not lie far in the past.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gateway.config.sites import MAX_RETENTION_DAYS

ENV = "CONSENT_GATEWAY_TEST_NOW"
# The default zone has summer time, so a run on the days it starts or ends meets 23 and 25 hours.
DEFAULT_ZONE = "Europe/Berlin"
# Rows the fixtures write must outlive the run whatever moment it is set to, by ClickHouse's real
# clock: the longest retention a site may set, ten years. The one test that wants rows past their
# retention sets its own.
FIXTURE_RETENTION_DAYS = MAX_RETENTION_DAYS
# The dashboard browser tests seed rows with a site's default retention (395 days) over the 60 days
# before the moment: a moment further back than this would find them deleted.
EARLIEST_MOMENT = dt.timedelta(days=300)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Moment:
    """An instant and the zone it is read in: the site's "now"."""

    instant: dt.datetime  # aware, UTC
    zone: str  # an IANA name
    name: str = "now"

    @property
    def local(self) -> dt.datetime:
        return self.instant.astimezone(ZoneInfo(self.zone))

    @property
    def today(self) -> dt.date:
        """The site's date at this moment (not the UTC date)."""
        return self.local.date()

    def at(self, day: dt.date, hour: int, minutes: float = 0) -> dt.datetime:
        """``hour:minutes`` local time on ``day`` in this moment's zone, as a UTC instant."""
        return local_time(self.zone, day, hour, minutes)

    @property
    def spec(self) -> str:
        """The value of ``CONSENT_GATEWAY_TEST_NOW`` that gives this moment back (with its offset, so
        the second 02:30 of a night that repeats an hour stays the second)."""
        return f"{self.local.isoformat(timespec='seconds')} {self.zone}"


def local_time(zone: str, day: dt.date, hour: int, minutes: float = 0) -> dt.datetime:
    """``hour:00`` local time on ``day``, as a UTC instant, plus ``minutes`` added in UTC (so adding
    minutes never lands in a summer-time gap or fold). An ``hour`` that the night skips is read with
    the offset from before the change: 00:00 on a day that starts at 01:00 is the day's start."""
    start = dt.datetime.combine(day, dt.time(hour), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
    return start + dt.timedelta(minutes=minutes)


def day_length(zone: str, day: dt.date) -> dt.timedelta:
    """How long ``day`` lasts in ``zone``: 24 hours but on the days summer time starts or ends."""
    return local_time(zone, day + DAY, 0) - local_time(zone, day, 0)


def hours_of(zone: str, day: dt.date) -> int:
    """How many hourly buckets ``day`` has: its length in hours, a half hour counting as one."""
    return math.ceil(day_length(zone, day) / HOUR)


def bucket_of(zone: str, day: dt.date, instant: dt.datetime) -> tuple[int, str]:
    """Which of ``day``'s hourly buckets holds ``instant``, and its label: the buckets are whole hours
    from the day's start, labelled in local time (13:30 after clocks moved by half an hour)."""
    start = local_time(zone, day, 0)
    index = int((instant - start) / HOUR)
    label = (start + index * HOUR).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")
    return index, label


def parse_moment(text: str) -> Moment:
    """``"2027-01-01T00:01 Asia/Shanghai"``: a local time and its zone (the zone defaults to
    ``DEFAULT_ZONE``); or an ISO instant with an offset, read in ``DEFAULT_ZONE``."""
    stamp, _, zone = text.strip().partition(" ")
    zone = zone.strip() or DEFAULT_ZONE
    try:
        when = dt.datetime.fromisoformat(stamp)
        tz = ZoneInfo(zone)
    except (ValueError, KeyError, OSError) as error:  # OSError: a folder of zones, such as "Asia"
        raise ValueError(f"{ENV}: not a moment like '2027-01-01T00:01 Asia/Shanghai': {text!r}") from error
    instant = (when if when.tzinfo else when.replace(tzinfo=tz)).astimezone(dt.UTC).replace(microsecond=0)
    return Moment(instant, zone, name=text.strip())


def current_moment(environ: Mapping[str, str] = os.environ) -> Moment:
    """The moment this run lives at: ``CONSENT_GATEWAY_TEST_NOW``, or the real clock."""
    real = dt.datetime.now(dt.UTC).replace(microsecond=0)
    text = environ.get(ENV, "")
    if not text:
        return Moment(real, DEFAULT_ZONE)
    moment = parse_moment(text)
    if moment.instant < real - EARLIEST_MOMENT:
        raise ValueError(f"{ENV}: {text!r} is more than {EARLIEST_MOMENT.days} days ago: ClickHouse's TTL, "
                         "on its real clock, would delete the rows placed around it; pick a later one")
    return moment


def next_day(after: dt.date, wanted: Callable[[dt.date], bool]) -> dt.date | None:
    """The first day after ``after`` that is ``wanted``, looked for in the next five years (a zone
    may stop moving its clocks: the time-zone database then says so, and there is none)."""
    day = after + DAY
    for _ in range(5 * 366):
        if wanted(day):
            return day
        day += DAY
    return None


def summer_time_starts(zone: str, after: dt.date) -> dt.date | None:
    """The next day shorter than 24 hours in ``zone`` (23, or 23.5 on Lord Howe Island)."""
    return next_day(after, lambda day: day_length(zone, day) < 24 * HOUR)


def summer_time_ends(zone: str, after: dt.date) -> dt.date | None:
    """The next day longer than 24 hours in ``zone`` (25, or 24.5 on Lord Howe Island)."""
    return next_day(after, lambda day: day_length(zone, day) > 24 * HOUR)


def hard_moments(after: dt.date) -> tuple[Moment, ...]:
    """Where date code breaks, the next time each comes after ``after``:

    - New Year in Shanghai (UTC+8): at 00:01 on 1 January the UTC date is still 31 December;
    - New Year's Eve in Los Angeles (UTC-8): at 23:59 the UTC date is already 1 January;
    - in Berlin, the day summer time starts (23 hours) a minute after midnight (the UTC date is
      the day before), the day it ends (25 hours) a minute before the next midnight, and the days
      after them (yesterday had 23 or 25 hours); the day it starts in Los Angeles, in the evening
      (UTC is the next day);
    - Adelaide's zone, half an hour off whole hours, on the day its summer time ends; Lord Howe
      Island, whose clocks move by half an hour (days of 23.5 and 24.5 hours); Santiago, whose
      clocks move at midnight (the day starts at 01:00);
    - a leap day, when "a year ago" has no such date.

    A zone that has stopped moving its clocks leaves its summer-time moments out.
    """
    berlin, shanghai, los_angeles = "Europe/Berlin", "Asia/Shanghai", "America/Los_Angeles"
    adelaide, lord_howe, santiago = "Australia/Adelaide", "Australia/Lord_Howe", "America/Santiago"
    new_year = dt.date(after.year + (2 if (after.month, after.day) == (12, 31) else 1), 1, 1)
    spring, autumn = summer_time_starts(berlin, after), summer_time_ends(berlin, after)
    planned = [
        (shanghai, new_year, 0, 1, "new-year-00:01-shanghai"),
        (los_angeles, new_year - DAY, 23, 59, "new-years-eve-23:59-los-angeles"),
        (berlin, spring, 0, 1, "summer-time-starts-00:01-berlin"),
        (berlin, autumn, 23, 59, "summer-time-ends-23:59-berlin"),
        (berlin, spring and spring + DAY, 0, 1, "day-after-summer-time-starts-00:01-berlin"),
        (berlin, autumn and autumn + DAY, 12, 0, "day-after-summer-time-ends-12:00-berlin"),
        (los_angeles, summer_time_starts(los_angeles, after), 23, 59, "summer-time-starts-23:59-los-angeles"),
        (adelaide, summer_time_ends(adelaide, after), 0, 1, "summer-time-ends-00:01-adelaide"),
        (lord_howe, summer_time_starts(lord_howe, after), 23, 59, "summer-time-starts-23:59-lord-howe"),
        (lord_howe, summer_time_ends(lord_howe, after), 23, 59, "summer-time-ends-23:59-lord-howe"),
        (santiago, summer_time_starts(santiago, after), 23, 59, "summer-time-starts-23:59-santiago"),
        ("Pacific/Auckland", next_day(after, lambda day: (day.month, day.day) == (2, 29)), 0, 1,
         "leap-day-00:01-auckland"),
    ]
    return tuple(Moment(local_time(zone, day, hour, minute), zone, name)
                 for zone, day, hour, minute, name in planned if day is not None)


# Read once, when the tests are collected: every fixture of the run sees the same moment, even when
# the run crosses midnight.
MOMENT = current_moment()
HARD_MOMENTS = hard_moments(dt.datetime.now(dt.UTC).date())


if __name__ == "__main__":
    for hard in HARD_MOMENTS:
        print(f"{hard.name:<44} CONSENT_GATEWAY_TEST_NOW=\"{hard.spec}\"")
