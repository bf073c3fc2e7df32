"""Location reports: countries, then regions, then cities, as the GeoIP database placed visitors.

Visitors and pageviews, not visits: place is the same on every hit of a visitor, so these read hits
straight from the events table; counting visits would cut every visit of the range (see
``engine``) and made the 90-day report ~3x slower than the 500 ms budget allows.
"""

from __future__ import annotations

from gateway.stats.table import Report, report

_METRICS = ("visitors", "pageviews", "actions")

REPORTS: tuple[Report, ...] = (
    report("countries", "Countries", ("country",), _METRICS),
    report("regions", "Regions", ("country", "region"), _METRICS),
    report("cities", "Cities", ("country", "region", "city"), _METRICS),
)
