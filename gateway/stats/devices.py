"""Technology reports: browsers, operating systems, device types, screens and languages.

Visitors and pageviews, for the reason given in ``locations``: these are the same on every hit of
a visitor, so they read hits without cutting visits.
"""

from __future__ import annotations

from gateway.stats.table import Report, report

_METRICS = ("visitors", "pageviews", "actions")

REPORTS: tuple[Report, ...] = (
    report("browsers", "Browsers", ("browser",), _METRICS),
    report("browser_versions", "Browser versions", ("browser", "browser_version"), _METRICS),
    report("os", "Operating systems", ("os",), _METRICS),
    report("os_versions", "OS versions", ("os", "os_version"), _METRICS),
    report("devices", "Device types", ("device",), _METRICS),
    report("screens", "Screen sizes", ("screen",), _METRICS),
    report("languages", "Languages", ("language",), _METRICS),
)
