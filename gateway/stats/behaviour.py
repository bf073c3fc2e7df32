"""Behaviour reports: custom events, site-search keywords, outlinks and downloads."""

from __future__ import annotations

from gateway.stats.table import Report, report

REPORTS: tuple[Report, ...] = (
    report("event_categories", "Event categories", ("event_category",), ("events", "visitors")),
    report("event_actions", "Event actions", ("event_category", "event_action"), ("events", "visitors")),
    report("event_names", "Event names", ("event_category", "event_action", "event_name"),
           ("events", "visitors")),
    report("search_keywords", "Site search", ("keyword",), ("searches", "visitors")),
    report("outlinks", "Outlinks", ("outlink",), ("clicks", "visitors")),
    report("downloads", "Downloads", ("download",), ("clicks", "visitors")),
)
