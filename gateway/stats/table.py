"""A breakdown as data (``Report``) and the one query every breakdown runs.

The report families (pages, sources, locations, devices, behaviour) only declare their reports;
this module turns a declaration into SQL over the rows of ``engine``: hit rows when every dimension
is read from hits, visit rows when one is a visit attribute (entry page, source, ...). Metrics are
named aggregates with a form for each kind of row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gateway.stats.countries import codes_matching
from gateway.stats.dims import DIMS, HIT, VISIT, Dim
from gateway.stats.engine import Params, Span, needs_visits
from gateway.stats.query import StatsQuery
from gateway.stats.summary import hit_rows, plan, visit_rows

MAX_LIMIT = 10000  # a CSV export; pages of the dashboard ask for far fewer


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str
    on_hits: str | None  # aggregate over hit rows; None: needs visits
    on_visits: str | None  # aggregate over visit rows; None: not a visit figure


METRICS = {m.key: m for m in (
    # Visitors are uniq(visitor_id): HyperLogLog-style, exact below ~65k and within ~1% above,
    # a third faster than uniqExact on the 90-day benchmark and steady in memory.
    Metric("visitors", "Visitors", "uniq(visitor_id)", "uniq(visitor_id)"),
    Metric("visits", "Visits", None, "count()"),
    Metric("pageviews", "Pageviews", "countIf(is_pv)", "sum(pageviews)"),
    # Hit rows are actions only (engine.ACTION_TYPES): pageviews, site searches, events, downloads, outlinks.
    Metric("actions", "Actions", "count()", "sum(actions)"),
    Metric("bounce_rate", "Bounce rate", None, "avg(bounce) * 100"),
    Metric("events", "Events", "count()", None),
    Metric("searches", "Searches", "count()", None),
    Metric("clicks", "Clicks", "count()", None),
)}


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    title: str
    dims: tuple[str, ...]  # filter keys; a row's filter is {d: row[d] for d in dims}
    metrics: tuple[str, ...]
    labels: dict[str, str]  # column key -> column title
    custom: tuple[Dim, ...] = ()  # the custom dimensions among ``dims`` (``custom_dims``)

    def dim(self, key: str) -> Dim:
        return DIMS.get(key) or next(d for d in self.custom if d.key == key)

    @property
    def on_visits(self) -> bool:
        return any(self.dim(d).level == VISIT for d in self.dims)

    def rows_of_visits(self, q: StatsQuery, stored: bool = False) -> bool:
        """Whether to count over visit rows: always for visit attributes; and, when a filter cuts
        visits anyway or the visit summary holds the range's closed days (``stored``), for dimensions
        a visitor keeps on every hit (taken once per visitor, which is ~2x faster than carrying them
        on every hit of the selected visits, and the summary's visits are fewer rows than the hits)."""
        if self.on_visits:
            return True
        return ((needs_visits(q) or stored) and all(self.dim(d).level == HIT for d in self.dims)
                and all(METRICS[m].on_visits for m in self.metrics))


def report(name: str, title: str, dims: tuple[str, ...], metrics: tuple[str, ...],
           **labels: str) -> Report:
    """A report whose column titles default to the dimensions' and metrics' own labels."""
    defaults = {d: DIMS[d].label for d in dims} | {m: METRICS[m].label for m in metrics}
    return Report(name, title, dims, metrics, defaults | labels)


def run(db: Any, q: StatsQuery, spec: Report, *, limit: int, offset: int, search: str) -> dict[str, Any]:
    """The rows of one page of ``spec``, sorted by its first metric, then by its dimensions."""
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    p = Params()
    span = Span.of(q)
    if spec.rows_of_visits(q, stored=plan(q, span) is not None):
        rows = visit_rows(q, p, span, spec.dims)
        aggregates = [METRICS[m].on_visits for m in spec.metrics]
    else:
        rows = hit_rows(q, p, span, spec.dims, spec.dim(spec.dims[-1]).hit_condition)
        aggregates = [METRICS[m].on_hits for m in spec.metrics]
    assert all(aggregates), f"report {spec.name}: a metric does not fit its rows"
    dims = ", ".join(spec.dims)
    selects = ", ".join([dims, *(f"{a} AS m_{m}" for a, m in zip(aggregates, spec.metrics, strict=True))])
    having = ""
    if search:
        last = spec.dims[-1]
        having = f" HAVING positionCaseInsensitiveUTF8({last}, {p.bind(search[:200])}) > 0"
        if last == "country":  # codes are stored, names are shown: find "Germany" too
            having += f" OR {last} IN {p.bind(codes_matching(search), 'Array(String)')}"
    order = ", ".join([f"m_{spec.metrics[0]} DESC", *(f"{d} ASC" for d in spec.dims)])
    sql = (f"SELECT {selects} FROM ({rows}) GROUP BY {dims}{having} ORDER BY {order} "
           f"LIMIT {p.bind(limit + 1, 'UInt32')} OFFSET {p.bind(offset, 'UInt32')}")
    result = db.query(sql, p.values)
    width = len(spec.dims)
    out = [{**dict(zip(spec.dims, (str(v) for v in row[:width]), strict=True)),
            **{m: _number(m, v) for m, v in zip(spec.metrics, row[width:], strict=True)}}
           for row in result[:limit]]
    columns = [{"key": d, "label": spec.labels[d], "kind": "dim"} for d in spec.dims]
    columns += [{"key": m, "label": spec.labels[m], "kind": "metric"} for m in spec.metrics]
    return {"report": spec.name, "title": spec.title, "columns": columns, "rows": out,
            "has_more": len(result) > limit}


def _number(metric: str, value: Any) -> int | float | None:
    if metric == "bounce_rate":
        return None if value is None or math.isnan(value) else round(float(value), 1)
    return int(value)
