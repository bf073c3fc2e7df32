"""The dashboard chart: visitors and pageviews per hour (one day) or per day, in the site's zone.

One query reads the previous and the current range; buckets are keyed by the local day, or by the
UTC instant of the local hour's start (a day with a DST change has 23 or 25 of them), and every
bucket is listed, with zeros where nothing happened. The previous period is aligned by index.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from gateway.stats.engine import Params, Span, needs_visits
from gateway.stats.query import DateRange, StatsQuery
from gateway.stats.summary import hit_rows, plan, visit_rows

Key = dt.date | int  # a local day, or the epoch second a local hour starts at


def bucket_sql(date_range: DateRange, p: Params, column: str = "ts") -> str:
    """The SQL bucket of a row, in the range's zone (bound: the zone is a validated IANA name)."""
    tz = p.bind(date_range.tz)
    if date_range.hourly:
        return f"toUnixTimestamp(toStartOfHour({column}, {tz}))"
    return f"toDate({column}, {tz})"


def buckets(date_range: DateRange) -> list[tuple[Key, str]]:
    """Every bucket of the range with its label (ISO local time: "2026-11-21T14:00" or a date)."""
    if not date_range.hourly:
        return [(day, day.isoformat()) for day in
                (date_range.start + dt.timedelta(days=n) for n in range(date_range.days))]
    start, end = date_range.bounds()
    zone = ZoneInfo(date_range.tz)
    out: list[tuple[Key, str]] = []
    while start < end:
        out.append((int(start.timestamp()), start.astimezone(zone).strftime("%Y-%m-%dT%H:%M")))
        start += dt.timedelta(hours=1)
    return out


def series(values: dict[Key, int], keys: list[tuple[Key, str]], length: int) -> list[int]:
    """Values in bucket order, zero-filled, cut or padded to ``length`` (previous periods)."""
    out = [values.get(key, 0) for key, _ in keys][:length]
    return out + [0] * (length - len(out))


def timeseries(db: Any, q: StatsQuery) -> dict[str, Any]:
    """``{"unit", "labels", "visitors", "pageviews", "previous_visitors", "previous_pageviews"}``."""
    p = Params()
    span = Span.of(q, with_previous=True)
    if not q.range.hourly and (needs_visits(q) or plan(q, span) is not None):
        # Per day from the visits (the summary's, or under a visit filter the matching ones): a visit
        # lies within one local day (visits.py), so its day is its hits' bucket, and its visitor and
        # pageviews are theirs (a hit that is no ping is an action: every such hit is in a visit).
        sql = (f"SELECT day AS b, uniq(visitor_id), sum(pageviews) FROM ({visit_rows(q, p, span)}) "
               "GROUP BY b")
    else:
        rows = hit_rows(q, p, span)
        sql = (f"SELECT {bucket_sql(q.range, p)} AS b, uniq(visitor_id), countIf(is_pv) FROM ({rows}) "
               "GROUP BY b")
    visitors: dict[Key, int] = {}
    pageviews: dict[Key, int] = {}
    for key, v, pv in db.query(sql, p.values):
        visitors[key], pageviews[key] = int(v), int(pv)
    current, previous = buckets(q.range), buckets(q.range.previous())
    n = len(current)
    return {
        "unit": "hour" if q.range.hourly else "day",
        "labels": [label for _, label in current],
        "visitors": series(visitors, current, n),
        "pageviews": series(pageviews, current, n),
        "previous_visitors": series(visitors, previous, n),
        "previous_pageviews": series(pageviews, previous, n),
    }
