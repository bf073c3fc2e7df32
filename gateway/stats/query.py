"""A dashboard query, parsed once from URL parameters: the site, the date range, the filters.

Everything after ``parse_query`` trusts these frozen values: dates are checked (order, span, sane
years), filter keys come from one closed table, values are capped. The range is in the site's time
zone (a day is the site's day), and ``bounds`` turns it into the UTC instants the events table is
sorted by. Errors are ``QueryError`` with a message naming the parameter, shown to the user as a 400.
``kept_from`` is where the site's retention starts (``oldest_kept``; ``gateway.rights.retention``
applies it to storage): no report reads an event before it, whatever range is asked. ``summary``
names the closed days the visit summary holds (``gateway.stats.summary``), set after parsing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from gateway.config.sites import Site
from gateway.stats.dims import DIMS, Dim
from gateway.stats.visits import DEFAULT_TIMEOUT

PERIODS: tuple[tuple[str, str], ...] = (
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("month", "This month"),
    ("lastmonth", "Last month"),
    ("12mo", "Last 12 months"),
)
_PERIOD_LABELS = dict(PERIODS)
DEFAULT_PERIOD = "30d"
CUSTOM = "custom"
IGNORED = frozenset({"limit", "offset", "search", "fragment", "dimension"})  # read by the views, not by us
# A custom dimension's filter key (gateway/config/dimensions.py, gateway/stats/custom_dims.py).
CUSTOM_KEY = re.compile(r"dimension[1-9][0-9]{0,2}")
MAX_VALUE = 500
MAX_SPAN_DAYS = 3 * 366
EARLIEST = dt.date(2000, 1, 1)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class QueryError(ValueError):
    """A bad dashboard parameter; the message names it and is safe to show."""


@dataclass(frozen=True, slots=True)
class DateRange:
    start: dt.date  # inclusive, in the site's time zone
    end: dt.date  # inclusive
    tz: str
    period: str  # a PERIODS key, or "custom"
    # The instant the range is seen at (aware), for the charts: their buckets after the one it falls
    # in are yet to come and left out (``gateway.stats.timeseries.buckets``). None: every bucket.
    now: dt.datetime | None = field(default=None, kw_only=True)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        if self.period in _PERIOD_LABELS:
            return _PERIOD_LABELS[self.period]
        if self.start == self.end:
            return _day(self.start, year=True)
        return f"{_day(self.start, year=self.start.year != self.end.year)} – {_day(self.end, year=True)}"

    @property
    def hourly(self) -> bool:
        return self.start == self.end

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The range as UTC instants, [start, end): local midnight to the midnight after ``end``."""
        zone = ZoneInfo(self.tz)
        start = dt.datetime.combine(self.start, dt.time(), tzinfo=zone).astimezone(dt.UTC)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), tzinfo=zone).astimezone(dt.UTC)
        return start, end

    def previous(self) -> DateRange:
        """The range of the same length just before, for comparisons (always a custom range), seen at
        the same ``now``."""
        length = dt.timedelta(days=self.days)
        return DateRange(self.start - length, self.end - length, self.tz, CUSTOM, now=self.now)


def _day(day: dt.date, *, year: bool) -> str:
    text = f"{day.day} {MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if year else text


def preset_range(period: str, today: dt.date, tz: str) -> DateRange:
    """The dates of a preset period, ``today`` being the site's local date."""
    one = dt.timedelta(days=1)
    first_of_month = today.replace(day=1)
    spans = {
        "today": (today, today),
        "yesterday": (today - one, today - one),
        "7d": (today - 6 * one, today),
        "30d": (today - 29 * one, today),
        "90d": (today - 89 * one, today),
        "month": (first_of_month, today),
        "lastmonth": ((first_of_month - one).replace(day=1), first_of_month - one),
        # Twelve whole months back to the same day, plus today: the day after "a year ago".
        "12mo": (_year_before(today) + one, today),
    }
    if period not in spans:
        raise QueryError(f"period: unknown period {period[:40]!r} (one of {', '.join(spans)}, custom)")
    start, end = spans[period]
    return DateRange(start, end, tz, period)


def _year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


@dataclass(frozen=True, slots=True)
class Filter:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class FilterSpec:
    key: str
    label: str
    level: str  # "hit" | "visit" | "contains"


FILTERS: dict[str, FilterSpec] = {d.key: FilterSpec(d.key, d.label, d.level) for d in DIMS.values()}


@dataclass(frozen=True, slots=True)
class Summary:
    """The site's days the visit summary answers (``gateway/stats/summary.py``): every day from
    ``first`` to ``last`` (local dates, inclusive) is built, by the builds ``builds`` (one per day)."""

    first: dt.date
    last: dt.date
    builds: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StatsQuery:
    site_id: int
    range: DateRange
    filters: tuple[Filter, ...]
    visit_timeout: int = DEFAULT_TIMEOUT
    # Required, so no caller can forget the site's retention: the engine reads no event before it.
    kept_from: dt.datetime = field(kw_only=True)
    # None: every visit is cut at query time. The answers are the same either way, only faster.
    summary: Summary | None = field(default=None, kw_only=True)
    # The site's custom dimensions (``gateway.stats.custom_dims``): their filters and reports.
    custom: tuple[Dim, ...] = field(default=(), kw_only=True)

    def dim(self, key: str) -> Dim:
        """The dimension of a filter or report key: a built-in one, or one of the site's custom ones."""
        found = DIMS.get(key) or next((d for d in self.custom if d.key == key), None)
        if found is None:
            raise KeyError(key)
        return found

    def params(self) -> list[tuple[str, str]]:
        """URL query pairs that parse back to this query."""
        pairs = [("period", self.range.period)]
        if self.range.period == CUSTOM:
            pairs += [("from", self.range.start.isoformat()), ("to", self.range.end.isoformat())]
        return pairs + [(f.key, f.value) for f in self.filters]


def oldest_kept(site: Site, now: dt.datetime) -> dt.datetime:
    """The first instant of ``site``'s events still kept at ``now`` (aware, UTC): local midnight
    ``retention_days - 1`` days before today, so the oldest day shown is a whole day, never one the
    TTL has half eaten. Where a summer-time change in between makes ``retention_days`` times 24 hours
    reach past that midnight (up to an hour a day), that instant instead: no row past its TTL shows."""
    zone = ZoneInfo(site.timezone)
    first_day = now.astimezone(zone).date() - dt.timedelta(days=site.retention_days - 1)
    midnight = dt.datetime.combine(first_day, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    return max(midnight, now.astimezone(dt.UTC) - dt.timedelta(days=site.retention_days))


def parse_query(params: Mapping[str, str] | list[tuple[str, str]], site_id: int, tz: str, today: dt.date,
                visit_timeout: int = DEFAULT_TIMEOUT, *, kept_from: dt.datetime,
                now: dt.datetime | None = None, custom: Sequence[Dim] = ()) -> StatsQuery:
    """Parse dashboard URL parameters; unknown keys other than ``IGNORED`` are errors. ``kept_from``:
    the site's oldest kept instant (``oldest_kept`` above); ``now``: the moment ``today`` was read
    at, which ends the charts (``DateRange.now``); ``custom``: the site's custom dimensions, whose keys
    (``dimension3``) filter too."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    seen: dict[str, str] = {}
    filters: list[Filter] = []
    for key, value in pairs:
        if key in seen or any(f.key == key for f in filters):
            raise QueryError(f"{key[:40]}: given more than once")
        if CUSTOM_KEY.fullmatch(key) and all(d.key != key for d in custom):
            raise QueryError(f"{key}: no custom dimension {key[9:]} is configured for this site")
        if key in FILTERS or CUSTOM_KEY.fullmatch(key):
            if len(value) > MAX_VALUE:
                raise QueryError(f"{key}: longer than {MAX_VALUE} characters")
            filters.append(Filter(key, value))
        elif key in ("period", "from", "to"):
            seen[key] = value
        elif key not in IGNORED:
            raise QueryError(f"{key[:40]}: unknown parameter")
    period = seen.get("period") or DEFAULT_PERIOD
    if period == CUSTOM:
        start, end = _date(seen, "from", today), _date(seen, "to", today)
        if start > end:
            raise QueryError("from: must not be after to")
        if (end - start).days + 1 > MAX_SPAN_DAYS:
            raise QueryError(f"to: the range may span at most {MAX_SPAN_DAYS} days")
        date_range = DateRange(start, end, tz, CUSTOM, now=now)
    else:
        date_range = replace(preset_range(period, today, tz), now=now)
    return StatsQuery(site_id, date_range, tuple(filters), visit_timeout, kept_from=kept_from,
                      custom=tuple(custom))


def _date(seen: dict[str, str], key: str, today: dt.date) -> dt.date:
    text = seen.get(key, "")
    if not text:
        raise QueryError(f"{key}: required with period=custom (YYYY-MM-DD)")
    try:
        day = dt.date.fromisoformat(text[:10]) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise QueryError(f"{key}: not a date like 2026-11-21")
    if not EARLIEST <= day <= today + dt.timedelta(days=366):
        raise QueryError(f"{key}: must be between {EARLIEST.isoformat()} and a year from today")
    return day
