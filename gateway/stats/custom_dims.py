"""Custom dimensions: a site's ``dimensionN`` values as a report and as filters, under their names.

The tracker sends ``dimension1``..``dimension999`` (Matomo's Custom Dimensions); ingest scrubs the
values like any free text and stores them in ``events.dimensions`` under that key. A site names the
ones it reports, each with a scope (``gateway/config/dimensions.py``), and each becomes a dimension
of ``dims.py`` for that site's queries (``StatsQuery.custom``):

- visit scope: an attribute of the visit, the value its last hit setting one set (as Matomo keeps a
  visit's dimension: a later request in the visit overwrites it), ``''`` when no hit did. A filter
  selects the visits with that value; the report counts visits, visitors and their actions.
- action scope: a value per action (pageview, event, ...). A filter selects the visits with such an
  action (as a page filter does); the report counts the actions and their visitors, ``''`` being the
  actions without one.

The summary of closed days (``summary.py``) does not store them: any query with one is answered from
the events (``summary.plan``), slower on long ranges, the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.config.dimensions import VISIT_SCOPE, CustomDimension
from gateway.config.sites import Site
from gateway.stats.dims import CONTAINS, VISIT, Dim
from gateway.stats.engine import IS_ACTION_HIT
from gateway.stats.query import QueryError, StatsQuery
from gateway.stats.table import MAX_LIMIT, METRICS, Report, run

REPORT = "custom_dimensions"
VISIT_METRICS = ("visits", "visitors", "actions")
ACTION_METRICS = ("actions", "visitors")


def dim_of(custom: CustomDimension) -> Dim:
    """The dimension a configured custom dimension is; its key is the tracker's (``dimension3``)."""
    expr = f"dimensions['{custom.key}']"  # the key is dimension + 1..999 digits: nothing to escape
    if custom.scope == VISIT_SCOPE:
        return Dim(custom.key, custom.name, VISIT, expr, last_set=True)
    return Dim(custom.key, custom.name, CONTAINS, expr, hits=IS_ACTION_HIT)


def dims_of(site: Site) -> tuple[Dim, ...]:
    """The site's custom dimensions, for ``parse_query(custom=...)``."""
    return tuple(dim_of(c) for c in site.custom_dimensions)


def report_of(dim: Dim) -> Report:
    """The report of one custom dimension, titled with its name."""
    metrics = VISIT_METRICS if dim.level == VISIT else ACTION_METRICS
    labels = {dim.key: dim.label} | {m: METRICS[m].label for m in metrics}
    return Report(REPORT, dim.label, (dim.key,), metrics, labels, custom=(dim,))


def chosen(q: StatsQuery, number: str) -> Dim:
    """The dimension ``dimension=N`` names among the site's (``q.custom``); a QueryError (400) says why
    not, listing the configured ones."""
    configured = ", ".join(f"{d.key[9:]} ({d.label})" for d in q.custom)
    if not configured:
        raise QueryError("dimension: this site has no custom dimensions (configure them under "
                         "[sites.custom_dimensions])")
    if not number:
        raise QueryError(f"dimension: required, the number of a custom dimension: {configured}")
    found = next((d for d in q.custom if d.key == f"dimension{number[:4]}"), None)
    if found is None:
        raise QueryError(f"dimension: {number[:20]!r} is not a custom dimension of this site: {configured}")
    return found


def breakdown(db: Any, q: StatsQuery, number: str, *, limit: int = 10, offset: int = 0,
              search: str = "") -> dict[str, Any]:
    """One page of the report of custom dimension ``number`` (``dimension=N``), as ``reports.breakdown``
    answers, plus ``dimension`` (N) and its ``scope``."""
    dim = chosen(q, number)
    result = run(db, q, report_of(dim), limit=min(limit, MAX_LIMIT), offset=offset, search=search)
    return {**result, "dimension": int(dim.key[9:]), "scope": "visit" if dim.level == VISIT else "action"}


def spec_of(result: Mapping[str, Any]) -> Report:
    """The declaration behind a custom dimension's result, for the pages and exports that format it."""
    columns: Sequence[Mapping[str, str]] = result["columns"]
    return Report(REPORT, result["title"], tuple(c["key"] for c in columns if c["kind"] == "dim"),
                  tuple(c["key"] for c in columns if c["kind"] == "metric"),
                  {c["key"]: c["label"] for c in columns})

