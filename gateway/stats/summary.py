"""The visit summary: one stored row per visit of a closed day, read instead of cutting visits again.

Cutting visits means grouping and sorting every hit of every visitor in the range (``engine``), which
grows with the range: on 10,000,000 events, 90 days took 0.6-1.5 s. Visits are cut at the site's local
midnight (``visits.py``), so a day's visits depend on that day's hits alone, and a range's visits are
the sum of its days'. Days whose hits can no longer change (closed: ``summary_build``) are cut once,
by the very ``engine.visit_rows`` query a dashboard runs, and stored in ``visits``, one generation
(``build``) per day at a time; ``visit_builds`` says which generation is current. A dashboard query
then reads the closed days of its range from ``visits`` and cuts only the rest at query time
(``UNION ALL``): the answer is the same, to the bit, as cutting everything (``tests/stats/
test_summary.py`` checks it on random data). Reports on hits read the summary too: a visit keeps the
values of its pages, events, searches and clicks (``HIT_ARRAYS``), and every action is in a
visit, so the closed days' hits of a kind are its arrays' values, with or without a visit
filter; place and device reports count the visits' visitors and pageviews (``table.rows_of_visits``),
and the daily chart the visits of each day (``timeseries``).

What the summary cannot answer goes to query time whole: ``contains`` filters (a page viewed, an
event), whose hits' times the summary does not keep, and the hourly chart of one day. Filters on a
hit-level dimension (city, browser, ...) compare the visit's value, taken from its visitor's hits of
that day (as the query-time visit rows do): the two agree while a visitor's place and device stay the
same through a day (``dims.py``; ``test_summary.py`` pins down what happens when they do not).

A query sees the builds it was given (``StatsQuery.summary``, read once per request from
``visit_builds`` by ``current_builds``), so a build landing mid-request changes nothing for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from gateway.stats import engine
from gateway.stats.dims import CONTAINS, DIMS
from gateway.stats.engine import DURATION_MS, P, Params, Span
from gateway.stats.query import StatsQuery, Summary

# The dimensions a visit row carries, stored under their own keys (storage/schema.py VISITS): every
# one but ``contains``. Changing what a build stores or how: raise FORMULA, and every day is rebuilt.
ATTRS = tuple(key for key, dim in DIMS.items() if dim.level != CONTAINS)
# The values of a visit's hits that the reports of ``contains`` dimensions count (pages, events, site
# searches, outlinks, downloads), one array per dimension, in the order of the visit's hits of its kind.
HIT_ARRAYS = {"page": "pv_pages", "event_category": "ev_category", "event_action": "ev_action",
              "event_name": "ev_name", "keyword": "searches", "outlink": "outlinks", "download": "downloads"}
# 2: a hit stored twice with new_visit counted once per copy; 3: goals and content impressions are no
# actions (Matomo's actions: pageviews, site searches, events, downloads, outlinks); 4: a campaign's
# source is its utm_source, not its name (dims.SOURCE)
FORMULA = 4
VISIT_COLUMNS = ("visitor_id", "cur", "day", "v_first", "v_last", "duration_ms", "duration", "actions",
                 "pageviews", "bounce")


@dataclass(frozen=True, slots=True)
class Plan:
    """The days a query reads from the summary (local, inclusive), and the UTC instants they span."""

    first: dt.date
    last: dt.date
    start: dt.datetime
    end: dt.datetime


def midnight(day: dt.date, tz: str) -> dt.datetime:
    """The UTC instant local ``day`` starts at."""
    return dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


def first_whole_day(kept_from: dt.datetime, tz: str) -> dt.date:
    """The first local day wholly inside retention: ``kept_from``'s, or the next when it starts later
    than that day's midnight (after a summer-time change)."""
    day = kept_from.astimezone(ZoneInfo(tz)).date()
    return day if midnight(day, tz) >= kept_from else day + dt.timedelta(days=1)


def plan(q: StatsQuery, span: Span) -> Plan | None:
    """Which days of ``span`` the summary answers; None: none, cut every visit at query time."""
    # A custom dimension (``custom_dims``) is not stored: a filter on one is answered at query time.
    if q.summary is None or any(f.key not in DIMS or DIMS[f.key].level == CONTAINS for f in q.filters):
        return None
    zone = ZoneInfo(q.range.tz)
    first = max(q.summary.first, span.start.astimezone(zone).date(), first_whole_day(q.kept_from, q.range.tz))
    last = min(q.summary.last, (span.end.astimezone(zone) - dt.timedelta(microseconds=1)).date())
    if first > last:
        return None
    return Plan(first, last, midnight(first, q.range.tz), midnight(last + dt.timedelta(days=1), q.range.tz))


def _open(q: StatsQuery, span: Span, days: Plan) -> Span:
    """What is left to cut at query time. Usually the summary's days are the head of the span and the
    rest a tail from their end: one range on ``ts`` reads much less than a range with a hole."""
    if days.start <= max(span.start, q.kept_from):
        return Span(days.end, max(days.end, span.end), span.current)
    return Span(span.start, span.end, span.current, skip=(days.start, days.end))


def _stored(q: StatsQuery, p: Params, span: Span, days: Plan, attrs: Sequence[str]) -> str:
    """The summary's visit rows of ``days`` that match ``q``'s filters, as ``engine.visit_rows``."""
    assert q.summary is not None
    where = [f"site_id = {p.bind(q.site_id, 'UInt32')}",
             f"build IN {p.bind(list(q.summary.builds), 'Array(UInt64)')}",
             f"day >= {p.bind(days.first, 'Date')}", f"day <= {p.bind(days.last, 'Date')}"]
    where += [f"{f.key} = {p.bind(f.value)}" for f in q.filters]
    cur = "1"
    if span.current is not None:
        cur = f"day >= {p.bind(span.current.astimezone(ZoneInfo(q.range.tz)).date(), 'Date')}"
    columns = ["visitor_id", f"toUInt8({cur}) AS cur", "day", "v_first", "v_last",
               f"{DURATION_MS} AS duration_ms",
               "duration_ms / 1000 AS duration", "actions", "pageviews", "actions <= 1 AS bounce", *attrs]
    return f"SELECT {', '.join(dict.fromkeys(columns))} FROM visits WHERE {' AND '.join(where)}"


def visit_rows(q: StatsQuery, p: Params, span: Span, attrs: Sequence[str] = ()) -> str:
    """``engine.visit_rows`` (the columns of ``VISIT_COLUMNS`` and ``attrs``), its closed days read
    from the summary when ``q`` has one (and it stores ``attrs``: no custom dimension)."""
    days = plan(q, span) if all(a in ATTRS for a in attrs) else None
    if days is None:
        return engine.visit_rows(q, p, span, attrs)
    columns = ", ".join(dict.fromkeys([*VISIT_COLUMNS, *attrs]))
    return (f"SELECT {columns} FROM ({engine.visit_rows(q, p, _open(q, span, days), attrs)}) UNION ALL "
            f"SELECT {columns} FROM ({_stored(q, p, span, days, attrs)})")


def visitor_totals(q: StatsQuery, p: Params, span: Span) -> str:
    """``engine.visitor_totals`` (``visitor_id, cur, visits_n, actions_n, pageviews_n, bounces_n,
    duration_ms``),
    its closed days read from the summary, a row per visit."""
    days = plan(q, span)
    if days is None:
        return engine.visitor_totals(q, p, span)
    columns = "visitor_id, cur, visits_n, actions_n, pageviews_n, bounces_n, duration_ms"
    stored = ("visitor_id, cur, toUInt64(1) AS visits_n, actions AS actions_n, pageviews AS pageviews_n, "
              "bounce AS bounces_n, duration_ms")
    return (f"SELECT {columns} FROM ({engine.visitor_totals(q, p, _open(q, span, days))}) UNION ALL "
            f"SELECT {stored} FROM ({_stored(q, p, span, days, ())})")


def hit_rows(q: StatsQuery, p: Params, span: Span, dims: Sequence[str] = (), condition: str = "1") -> str:
    """``engine.hit_rows`` for a report on a kind of hits (``visitor_id, cur, is_pv`` and ``dims``):
    on the closed days, the values of the (matching) visits' hits of that kind, kept per visit in the
    summary (``HIT_ARRAYS``). Every action (``engine.ACTION_TYPES``) is in a visit, so without a visit
    filter these are all the hits. Anything else is read from ``events``."""
    days = plan(q, span)
    if (days is None or not dims or any(d not in HIT_ARRAYS for d in dims)
            or condition != DIMS[dims[-1]].hit_condition):
        return engine.hit_rows(q, p, span, dims, condition)
    columns = ", ".join(["visitor_id", "cur", "is_pv", *dims])
    arrays = ", ".join(f"{HIT_ARRAYS[d]} AS {d}" for d in dims)
    is_pv = int(DIMS[dims[-1]].kind == "pageview")
    stored = (f"SELECT visitor_id, cur, toUInt8({is_pv}) AS is_pv, {', '.join(dims)} FROM "
              f"({_stored(q, p, span, days, [HIT_ARRAYS[d] for d in dims])}) ARRAY JOIN {arrays}")
    return (f"SELECT {columns} FROM ({engine.hit_rows(q, p, _open(q, span, days), dims, condition)}) "
            f"UNION ALL {stored}")


# --- building (summary_build runs these) ---

def build_sql(q: StatsQuery, p: Params, build: int, retention_days: int) -> str:
    """Insert the visits of ``q``'s one day (a custom range of one day, no filters) as ``build``."""
    assert q.range.start == q.range.end and not q.filters and q.summary is None
    carried, extra = ["any(consent_id) AS cid"], []
    for kind in dict.fromkeys(DIMS[key].kind for key in HIT_ARRAYS):
        carried += [f"groupArrayIf({P}, event_type = '{kind}') AS k_{kind}_ms",
                    f"arrayEnumerateUniq(k_{kind}_ms) AS k_{kind}_occ"]
        for key in (k for k in HIT_ARRAYS if DIMS[k].kind == kind):
            carried.append(f"groupArrayIf({DIMS[key].expr}, event_type = '{kind}') AS k_{key}")
            extra.append(f"arrayFilter((x, t, j) -> {engine.in_visit('t', 'j')}, k_{key}, k_{kind}_ms, "
                         f"k_{kind}_occ) AS {HIT_ARRAYS[key]}")
    rows = engine.visit_rows(q, p, Span.of(q), ATTRS, carried=carried, extra=extra, keep=["cid"], ranked=True)
    attrs = ", ".join([*ATTRS, *HIT_ARRAYS.values()])
    return (f"INSERT INTO visits (site_id, day, build, visitor_id, consent_id, v_first, v_last, actions, "
            f"pageviews, {attrs}, retention_days) SELECT {p.bind(q.site_id, 'UInt32')}, day, "
            f"{p.bind(build, 'UInt64')}, visitor_id, cid, v_first, v_last, actions, pageviews, {attrs}, "
            f"{p.bind(retention_days, 'UInt16')} FROM ({rows})")


# A day's hits in two numbers: a late hit, a replayed batch, an erasure or a purge changes them.
FINGERPRINTS = ("SELECT toDate(ts, {tz:String}) AS d, count(), sum(cityHash64(visitor_id, ts, event_type, "
                "new_visit)) FROM events WHERE site_id = {site:UInt32} "
                "AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')} GROUP BY d")


def fingerprints(db: Any, site_id: int, tz: str, first: dt.date,
                 last: dt.date) -> dict[dt.date, tuple[int, int]]:
    """``{day: (events, hash sum)}`` of the local days ``first`` to ``last`` that have events."""
    rows = db.query(FINGERPRINTS, {"tz": tz, "site": site_id, "start": midnight(first, tz),
                                   "end": midnight(last + dt.timedelta(days=1), tz)})
    return {day: (int(count), int(total)) for day, count, total in rows}


@dataclass(frozen=True, slots=True)
class Build:
    day: dt.date
    build: int
    events: int
    fingerprint: int
    built_at: dt.datetime
    formula: int = FORMULA


def builds(db: Any, site_id: int, tz: str, timeout: int) -> tuple[dict[dt.date, Build], list[Build]]:
    """The current build of each day made with these settings, and every other registered build."""
    rows = db.query("SELECT day, build, events, fingerprint, built_at, formula, timezone = {tz:String} AND "
                    "timeout = {timeout:UInt32} AND formula = {formula:UInt16} FROM visit_builds "
                    "WHERE site_id = {site:UInt32}",
                    {"site": site_id, "tz": tz, "timeout": timeout, "formula": FORMULA})
    matching: dict[dt.date, list[Build]] = {}
    others: list[Build] = []
    for day, build, events, fingerprint, built_at, formula, same in rows:
        b = Build(day, int(build), int(events), int(fingerprint), built_at, int(formula))
        (matching.setdefault(day, []) if same else others).append(b)
    current: dict[dt.date, Build] = {}
    for day, candidates in matching.items():
        candidates.sort(key=lambda b: (b.built_at, b.build))
        current[day] = candidates[-1]
        others += candidates[:-1]
    return current, others


def current_builds(db: Any, site_id: int, tz: str, timeout: int) -> Summary | None:
    """What a dashboard query may read: the newest run of consecutive built days, or None."""
    current, _ = builds(db, site_id, tz, timeout)
    if not current:
        return None
    last = first = max(current)
    while first - dt.timedelta(days=1) in current:
        first -= dt.timedelta(days=1)
    return Summary(first, last, tuple(sorted(current[d].build for d in current if first <= d <= last)))
