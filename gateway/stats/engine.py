"""The one SQL builder under every dashboard figure: rows of hits or of visits, filtered as asked.

Two kinds of rows, each a subquery with fixed column names, so reports, figures and charts only add
their ``GROUP BY`` on top:

- hit rows (``visitor_id, ts, is_pv`` and the asked dimensions by key). Without visit-level filters
  they come straight from ``events`` (hit-level filters are a ``WHERE``: they hold for the whole
  visit); that is the fast path of most reports.
- visit rows (``visitor_id, day, duration, actions, pageviews, bounce`` and the asked visit
  attributes), cut at query time as ``visits.py`` explains: per visitor and local day, so a visit
  ends at the site's midnight, and closed days can come from the visit summary instead
  (``summary.py``, which calls these builders for the open days). When a filter needs visits, hit
  rows are taken out of the matching visits instead.

Why the visits look the way they do (measured on 10M events, 90 days, 2 cores): arrays of tuples
holding strings made visits 3-4x slower than arrays of plain integers. So a hit is one UInt64 (``P``:
its millisecond time and three flags), visits are split on those, and strings ride in separate
sparse arrays (only the rows that matter: pageviews for entry/exit pages, non-direct hits for
sources, matching hits for ``contains`` filters), found again by their ``P`` value with ``indexOf``.
A ``P`` is unique enough: two hits of one visitor in the same millisecond with the same flags are
interchangeable for every figure. Filters on visits first narrow the visitors down with an ``IN``
subquery (a cheap scan), so the grouping runs over the few visitors who can match.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.stats.dims import CONTAINS, FIRST_HIT_DEFAULT, HIT, NOT_DIRECT, VISIT, Dim
from gateway.stats.query import Filter, StatsQuery

# What Matomo counts as an action: pageviews, site searches, events, downloads and outlinks. Pings (the
# page is still open), goal conversions and content impressions are hits, not actions: they lengthen a
# visit but neither make one nor keep it from bouncing.
ACTION_TYPES = ("pageview", "site_search", "event", "download", "outlink")
IS_ACTION_HIT = f"event_type IN {ACTION_TYPES!r}"
# A hit as one sortable integer: ms since the epoch, then flags new_visit (4), pageview (2), action (1).
P = ("toUInt64(toUnixTimestamp64Milli(ts)) * 8 + new_visit * 4"
     f" + (event_type = 'pageview') * 2 + ({IS_ACTION_HIT})")
IS_ACTION, IS_PAGEVIEW, IS_NEW = 1, 2, 4
DURATION_MS = "intDiv(v_last, 8) - intDiv(v_first, 8)"  # a visit's duration in whole milliseconds
DT = "DateTime64(3, 'UTC')"


def in_visit(t: str, occurrence: str) -> str:
    """Whether the hit packed as ``t`` (a ``P``), the ``occurrence``-th of that value among the hits
    carried beside the visit (``arrayEnumerateUniq``), is one of the visit's (``visit_rows`` with
    ``ranked``). Inside the visit's first and last instants, every copy is; at its first instant, a
    replayed hit stored twice with ``new_visit`` starts a visit per copy at the same ``P``, so the
    visit takes only its share: the copies after those of the earlier visits starting there
    (``v_rank`` counts them), as many as it holds (``v_same``)."""
    return (f"({t} > v_first AND {t} <= v_last OR {t} = v_first AND {occurrence} >= v_rank "
            f"AND {occurrence} < v_rank + v_same)")


@dataclass
class Params:
    """Bound query parameters: user input only ever reaches SQL as ``{name:Type}``."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any, kind: str = "String") -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{kind}}}"


@dataclass(frozen=True, slots=True)
class Span:
    """The UTC instants queried, and where the current period starts when the previous is included."""

    start: dt.datetime
    end: dt.datetime
    current: dt.datetime | None = None  # set: rows get a ``cur`` column (1: current period)
    # Whole local days answered from the visit summary (``summary.py``): hits there are not read.
    skip: tuple[dt.datetime, dt.datetime] | None = None

    @classmethod
    def of(cls, q: StatsQuery, *, with_previous: bool = False) -> Span:
        start, end = q.range.bounds()
        if not with_previous:
            return cls(start, end)
        return cls(q.range.previous().bounds()[0], end, start)


def needs_visits(q: StatsQuery) -> bool:
    return any(q.dim(f.key).level != HIT for f in q.filters)


def _where(q: StatsQuery, p: Params, span: Span) -> str:
    """Site, time span and hit-level filters; plus, for visit filters, the visitors who can match.

    Every query over ``events`` starts here, so this is where retention holds: nothing before
    ``q.kept_from`` is read, whether or not ClickHouse's TTL merge has deleted it yet. One lower bound
    on ``ts``, so the sort key still prunes; a visit crossing it is cut there, as at a range's edge."""
    start = max(span.start, q.kept_from)
    parts = [f"site_id = {p.bind(q.site_id, 'UInt32')}", f"ts >= {p.bind(start, DT)}",
             f"ts < {p.bind(span.end, DT)}"]
    if span.skip:
        parts.append(f"(ts < {p.bind(span.skip[0], DT)} OR ts >= {p.bind(span.skip[1], DT)})")
    scope = " AND ".join(parts)
    for f in q.filters:
        dim = q.dim(f.key)
        if dim.level == HIT:
            parts.append(dim.equals(p.bind(f.value)))
        elif (narrow := _hit_matching(dim, f, p)) is not None:
            parts.append(f"visitor_id IN (SELECT visitor_id FROM events WHERE {scope} AND {narrow})")
    return " AND ".join(parts)


def _hit_matching(dim: Dim, f: Filter, p: Params) -> str | None:
    """A condition on hits that every visit matching ``f`` has one of; None when all hits may."""
    if dim.first_hit:
        if f.value == FIRST_HIT_DEFAULT.get(dim.key, ""):
            return None
        return f"{NOT_DIRECT} AND {dim.equals(p.bind(f.value))}"
    if dim.last_set:  # a hit of the visit set the value; none may have set '' (not set)
        return dim.equals(p.bind(f.value)) if f.value else None
    kind = dim.kind or "pageview"  # entry and exit pages are pageviews
    return f"{dim.hits or f'event_type = {kind!r}'} AND {dim.equals(p.bind(f.value))}"


def _cur(span: Span, p: Params) -> str:
    return f"ts >= {p.bind(span.current, DT)}" if span.current else "1"


def hit_rows(q: StatsQuery, p: Params, span: Span, dims: Sequence[str] = (), condition: str = "1") -> str:
    """One row per hit of the selected visits: ``visitor_id, ts, is_pv, cur`` and ``dims`` by key."""
    if not needs_visits(q):
        columns = "".join(f", {q.dim(d).expr} AS {d}" for d in dims)
        # Actions only: a visitor with nothing but pings, goals or content impressions in the range has
        # no visit (visits.py), so counting those hits here would make reports disagree with the figures.
        return (f"SELECT visitor_id, ts, event_type = 'pageview' AS is_pv, {_cur(span, p)} AS cur{columns} "
                f"FROM events WHERE {_where(q, p, span)} AND {condition} AND {IS_ACTION_HIT}")
    if not dims and condition == "1":  # every action: walk the visit's own array
        return (f"SELECT visitor_id, cur, fromUnixTimestamp64Milli(toInt64(intDiv(h, 8)), 'UTC') AS ts, "
                f"bitAnd(h, {IS_PAGEVIEW}) != 0 AS is_pv FROM ({visit_rows(q, p, span, keep=('v',))}) "
                f"ARRAY JOIN arrayFilter(h -> bitAnd(h, {IS_ACTION}) != 0, v) AS h")
    condition = f"{condition} AND {IS_ACTION_HIT}"
    carried = [f"groupArrayIf({P}, {condition}) AS r_ms", "arrayEnumerateUniq(r_ms) AS r_occ"]
    carried += [f"groupArrayIf({q.dim(d).expr}, {condition}) AS r_{d}" for d in dims]
    visits = visit_rows(q, p, span, carried=carried, keep=("r_ms", *(f"r_{d}" for d in dims)), ranked=True,
                        extra=[f"arrayFilter(i -> {in_visit('r_ms[i]', 'r_occ[i]')}, arrayEnumerate(r_ms)) "
                               "AS r_idx"])
    columns = "".join(f", r_{d}[i] AS {d}" for d in dims)
    return (f"SELECT visitor_id, cur, fromUnixTimestamp64Milli(toInt64(intDiv(r_ms[i], 8)), 'UTC') AS ts, "
            f"bitAnd(r_ms[i], {IS_PAGEVIEW}) != 0 AS is_pv{columns} FROM ({visits}) ARRAY JOIN r_idx AS i")


def visit_rows(q: StatsQuery, p: Params, span: Span, attrs: Sequence[str] = (), *,
               carried: Sequence[str] = (), extra: Sequence[str] = (), keep: Sequence[str] = (),
               ranked: bool = False) -> str:
    """One row per selected visit: ``visitor_id, cur, duration, actions, pageviews, bounce`` and
    ``attrs`` (dimension keys) by key. ``carried`` adds per-visitor aggregates, ``extra`` per-visit
    expressions and ``keep`` columns passed on (``v``: the visit's hits), for ``hit_rows``;
    ``ranked`` adds what ``in_visit`` needs."""
    visit_filters = [f for f in q.filters if q.dim(f.key).level != HIT]
    wanted = list(dict.fromkeys([*attrs, *(f.key for f in visit_filters if q.dim(f.key).level == VISIT)]))
    inner = [*_split(q, p), *carried]
    outer = ["visitor_id", "cur", "day", "v[1] AS v_first", "v[-1] AS v_last",
             f"{DURATION_MS} AS duration_ms", "duration_ms / 1000 AS duration",
             f"arrayCount(h -> bitAnd(h, {IS_ACTION}) != 0, v) AS actions",
             f"arrayCount(h -> bitAnd(h, {IS_PAGEVIEW}) != 0, v) AS pageviews", "actions <= 1 AS bounce"]
    if any(k in ("entry_page", "exit_page") for k in wanted):
        inner += [f"groupArrayIf({P}, event_type = 'pageview') AS pv_ms",
                  "groupArrayIf(url_path, event_type = 'pageview') AS pv_path"]
    if any(q.dim(k).first_hit for k in wanted):
        inner.append(f"groupArrayIf({P}, {NOT_DIRECT}) AS ref_ms")
        outer.append("indexOf(ref_ms, v_first) AS ref_i")
    for key in wanted:
        dim = q.dim(key)
        if key in ("entry_page", "exit_page"):
            pick = "arrayFirst" if key == "entry_page" else "arrayLast"
            outer.append(f"pv_path[indexOf(pv_ms, {pick}(h -> bitAnd(h, {IS_PAGEVIEW}) != 0, v))] AS {key}")
        elif dim.first_hit:
            inner.append(f"groupArrayIf({dim.expr}, {NOT_DIRECT}) AS ref_{key}")
            default = FIRST_HIT_DEFAULT.get(key, "")
            outer.append(f"if(ref_i = 0, '{default}', ref_{key}[ref_i]) AS {key}")
        elif dim.last_set:  # the value of the visit's last hit that set one ('' when none did)
            inner += [f"groupArrayIf({P}, {dim.expr} != '') AS set_{key}_ms",
                      f"groupArrayIf({dim.expr}, {dim.expr} != '') AS set_{key}"]
            outer.append(f"set_{key}[indexOf(set_{key}_ms, arrayMax(arrayFilter(t -> t >= v_first AND "
                         f"t <= v_last, set_{key}_ms)))] AS {key}")
        else:  # the same on every hit of the visitor; aliased apart, since a filter in the inner
            # WHERE names the column itself, which an alias of the same name would make an aggregate
            inner.append(f"any({dim.expr}) AS a_{key}")
            outer.append(f"a_{key} AS {key}")
    conditions = [f"arrayExists(h -> bitAnd(h, {IS_ACTION}) != 0, v)"]
    for n, f in enumerate(visit_filters):
        dim = q.dim(f.key)
        if dim.level == CONTAINS:
            inner.append(f"groupArrayIf({P}, {dim.hit_condition} AND {dim.equals(p.bind(f.value))}) "
                         f"AS c{n}_ms")
            conditions.append(f"arrayExists(x -> x >= v_first AND x <= v_last, c{n}_ms)")
        else:
            conditions.append(f"{f.key} = {p.bind(f.value)}")
    joined = "visits AS v"
    if ranked:  # 1 + the copies of v's first hit in the visitor's earlier visits: one per visit
        joined += ", arrayEnumerateUniq(arrayMap(w -> w[1], visits)) AS v_rank"
        outer.append("countEqual(v, v[1]) AS v_same")
    outer += [*extra, *keep]
    return (f"SELECT {', '.join(dict.fromkeys(outer))} FROM ({_per_visitor(q, p, span, inner)}) "
            f"ARRAY JOIN {joined} WHERE {' AND '.join(conditions)}")


def visitor_totals(q: StatsQuery, p: Params, span: Span) -> str:
    """One row per visitor and local day with a visit: ``visitor_id, cur, visits_n, actions_n,
    pageviews_n, bounces_n, duration_ms`` (the sum of the visits' durations, in whole milliseconds, so
    that sums over any split of the days agree to the bit). Sums per visitor, no row per visit: the
    figures' fast path, for queries without visit filters (``needs_visits`` false)."""
    assert not needs_visits(q)
    action, pageview = f"bitAnd(h, {IS_ACTION}) != 0", f"bitAnd(h, {IS_PAGEVIEW}) != 0"
    totals = ["visitor_id", "cur", f"arrayFilter(v -> arrayExists(h -> {action}, v), visits) AS vs",
              "length(vs) AS visits_n",
              f"arraySum(arrayMap(v -> arrayCount(h -> {action}, v), vs)) AS actions_n",
              f"arraySum(arrayMap(v -> arrayCount(h -> {pageview}, v), vs)) AS pageviews_n",
              f"arrayCount(v -> arrayCount(h -> {action}, v) <= 1, vs) AS bounces_n",
              "arraySum(arrayMap(v -> intDiv(v[-1], 8) - intDiv(v[1], 8), vs)) AS duration_ms"]
    return f"SELECT {', '.join(totals)} FROM ({_per_visitor(q, p, span, _split(q, p))}) WHERE visits_n > 0"


def _split(q: StatsQuery, p: Params) -> list[str]:
    """A visitor's hits, sorted, and cut into visits (as ``visits.py``, on ``P`` integers)."""
    timeout = p.bind(q.visit_timeout * 1000, "UInt64")
    return [f"groupArray({P}) AS raw", "arraySort(raw) AS hits",
            f"arraySplit((h, gap) -> gap > {timeout} OR bitAnd(h, {IS_NEW}) != 0, hits, "
            "arrayDifference(arrayMap(h -> intDiv(h, 8), hits))) AS visits"]


def _per_visitor(q: StatsQuery, p: Params, span: Span, aggregates: Sequence[str]) -> str:
    """A visitor's hits per local day: visits are cut at the site's midnight (``visits.py``)."""
    return (f"SELECT visitor_id, {_cur(span, p)} AS cur, toDate(ts, {p.bind(q.range.tz)}) AS day, "
            f"{', '.join(aggregates)} FROM events WHERE {_where(q, p, span)} GROUP BY visitor_id, cur, day")
