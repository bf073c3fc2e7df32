"""Acquisition reports: where visits came from, by channel, source and campaign.

A visit's source is its first hit's: later hits of a visit carry an internal referrer, stored as
direct. A campaign visit's source is its utm_source (mtm_source, pk_source), never the campaign's
name, which only the campaign report shows (``dims.SOURCE``). Direct visits have an empty source and
campaign: ``''`` in the data, shown as "Direct / none" and "(not set)" on the page, in CSV and in the
JSON rows' ``label`` (``gateway.dashboard.context.dim_display``).
"""

from __future__ import annotations

from gateway.stats.table import Report, report

_METRICS = ("visitors", "visits", "bounce_rate")

REPORTS: tuple[Report, ...] = (
    report("referrer_types", "Channels", ("referrer_type",), _METRICS),
    report("sources", "Sources", ("source",), _METRICS),
    report("utm_sources", "UTM sources", ("utm_source",), _METRICS),
    report("utm_mediums", "UTM mediums", ("utm_medium",), _METRICS),
    report("utm_campaigns", "UTM campaigns", ("utm_campaign",), _METRICS),
)
