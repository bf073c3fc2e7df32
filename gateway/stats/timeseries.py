"""The dashboard chart: visitors and pageviews per hour (one day) or per day, in the site's zone.

One query reads the previous and the current range; buckets are keyed by the local day, or by the
UTC instant of the local hour's start (a day with a DST change has 23 or 25 of them), and every
bucket is listed, with zeros where nothing happened, up to the one the range's ``now`` falls in:
the hours and days still to come are left out (not zeros, which would read as a drop), and that
last bucket, still filling, is named by ``present_index``. The previous period is aligned by index
and cut to the same length, so the comparison is like for like: its first as many hours or days
(the same clock hours but the day after a summer-time change, as buckets are counted from midnight).
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
    """Every bucket of the range with its label (ISO local time: "2026-11-21T14:00" or a date), but
    those starting after ``date_range.now``: none at all for a range still to come."""
    zone = ZoneInfo(date_range.tz)
    now = date_range.now
    if not date_range.hourly:
        last = date_range.end if now is None else min(date_range.end, now.astimezone(zone).date())
        return [(day, day.isoformat()) for day in
                (date_range.start + dt.timedelta(days=n) for n in range((last - date_range.start).days + 1))]
    start, end = date_range.bounds()
    if now is not None:
        end = min(end, now + dt.timedelta(microseconds=1))  # the hour holding ``now`` starts at or before it
    out: list[tuple[Key, str]] = []
    while start < end:
        out.append((int(start.timestamp()), start.astimezone(zone).strftime("%Y-%m-%dT%H:%M")))
        start += dt.timedelta(hours=1)
    return out


def present_index(date_range: DateRange, count: int) -> int | None:
    """The index of the bucket ``now`` falls in, the last of ``count`` listed, or None when the range
    is over (or still to come, or seen at no particular moment)."""
    now = date_range.now
    if now is None or count == 0:
        return None
    start, end = date_range.bounds()
    return count - 1 if start <= now < end else None


def series(values: dict[Key, int], keys: list[tuple[Key, str]], length: int) -> list[int]:
    """Values in bucket order, zero-filled, cut or padded to ``length`` (previous periods)."""
    out = [values.get(key, 0) for key, _ in keys][:length]
    return out + [0] * (length - len(out))


def timeseries(db: Any, q: StatsQuery) -> dict[str, Any]:
    """``{"unit", "labels", "visitors", "pageviews", "previous_visitors", "previous_pageviews",
    "present_index"}``, up to the bucket ``q.range.now`` falls in."""
    p = Params()
    span = Span.of(q, with_previous=True)
    if not q.range.hourly and (needs_visits(q) or plan(q, span) is not None):
        # Per day from the visits (the summary's, or under a visit filter the matching ones): a visit
        # lies within one local day (visits.py), so its day is its hits' bucket, and its visitor and
        # pageviews are theirs (every action is in a visit).
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
        "present_index": present_index(q.range, n),
    }
