"""Page reports: the pages viewed, and where visits began and ended."""

from __future__ import annotations

from gateway.stats.table import Report, report

REPORTS: tuple[Report, ...] = (
    report("pages", "Pages", ("page",), ("visitors", "pageviews")),
    report("entry_pages", "Entry pages", ("entry_page",), ("visits", "visitors", "bounce_rate")),
    report("exit_pages", "Exit pages", ("exit_page",), ("visits", "visitors")),
)
