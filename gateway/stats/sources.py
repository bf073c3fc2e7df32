"""Acquisition reports: where visits came from, by channel, source and campaign.

A visit's source is its first hit's: later hits of a visit carry an internal referrer, stored as
direct. Direct visits have an empty source and campaign (the views show them as "none").
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
