"""Every breakdown of the dashboards, by name, and ``breakdown`` to run one.

Each family module declares its reports as data (``table.report``); they all run through the one
query in ``table``. This module is what the web layer imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.stats import behaviour, custom_dims, devices, locations, pages, sources
from gateway.stats.query import QueryError, StatsQuery
from gateway.stats.table import MAX_LIMIT, Report, run

REPORTS: dict[str, Report] = {
    r.name: r for family in (pages, sources, locations, devices, behaviour) for r in family.REPORTS
}


def breakdown(db: Any, q: StatsQuery, name: str, *, limit: int = 10, offset: int = 0,
              search: str = "", dimension: str = "") -> dict[str, Any]:
    """One page of report ``name``: ``{"report", "title", "columns", "rows", "has_more"}``.

    ``search`` keeps rows whose last dimension contains it (case-insensitive); ``limit`` is capped
    at 10,000 (a CSV export). ``custom_dimensions`` is one report per custom dimension of the site:
    ``dimension`` names it (its N), as ``custom_dims.breakdown`` says.
    """
    if name == custom_dims.REPORT:
        return custom_dims.breakdown(db, q, dimension, limit=limit, offset=offset, search=search)
    spec = REPORTS.get(name)
    if spec is None:
        raise QueryError(f"report: unknown report {name[:40]!r}")
    return run(db, q, spec, limit=min(limit, MAX_LIMIT), offset=offset, search=search)


def spec_of(result: Mapping[str, Any]) -> Report:
    """The declaration of a ``breakdown`` result, for the pages and exports that format it."""
    return REPORTS.get(result["report"]) or custom_dims.spec_of(result)


__all__ = ["REPORTS", "Report", "breakdown", "spec_of"]
