"""The dimensions of the dashboards, as data: what a filter key or a report column means in SQL.

One table serves both uses: a breakdown groups by a dimension, and clicking its row filters on the
same dimension. Each dimension has a level, which decides how a filter on it selects visits:

- ``hit``: the same on every hit of a visitor (place, browser, device, language), so a plain
  ``WHERE`` on events selects whole visits;
- ``visit``: an attribute of the visit, read from its first hit (where it came from) or its first and
  last pageview (entry and exit page);
- ``contains``: the visit has at least one such hit (a page viewed, an event, a search, a click).

``expr`` is a SQL expression over one events row; the hit-level ones are ``String``. ``kind`` is the
event type a ``contains`` dimension (and its report) reads. ``first_hit`` marks visit attributes
that only a visit's first hit carries: every later hit of a visit is stored as direct, with ``''``
here, so rows with ``referrer_type != 'direct'`` are the only ones worth carrying.
"""

from __future__ import annotations

from dataclasses import dataclass

HIT, VISIT, CONTAINS = "hit", "visit", "contains"
NOT_DIRECT = "referrer_type != 'direct'"


@dataclass(frozen=True, slots=True)
class Dim:
    key: str
    label: str
    level: str
    expr: str
    kind: str = ""  # event type of a "contains" dimension's hits
    first_hit: bool = False  # a visit attribute taken from the visit's first hit
    match: str = ""  # a faster test of ``expr = {v}`` on the stored columns, when there is one

    def equals(self, value: str) -> str:
        """SQL testing this dimension against ``value`` (a bound parameter placeholder)."""
        return self.match.replace("{v}", value) if self.match else f"{self.expr} = {value}"

    @property
    def hit_condition(self) -> str:
        """Which events rows this dimension's report reads ("1": all of them)."""
        return f"event_type = '{self.kind}'" if self.kind else "1"


def _dims(*dims: Dim) -> dict[str, Dim]:
    return {d.key: d for d in dims}


# Order: as filter chips and the contract list them.
DIMS = _dims(
    Dim("page", "Page", CONTAINS, "url_path", kind="pageview"),
    Dim("entry_page", "Entry page", VISIT, "url_path"),
    Dim("exit_page", "Exit page", VISIT, "url_path"),
    Dim("referrer_type", "Channel", VISIT, "toString(referrer_type)", first_hit=True),
    # Compared column by column: LowCardinality columns compare without building strings.
    Dim("source", "Source", VISIT, "if(referrer_name != '', referrer_name, referrer_host)", first_hit=True,
        match="(referrer_name = {v} OR (referrer_name = '' AND referrer_host = {v}))"),
    Dim("utm_source", "UTM source", VISIT, "campaign_source", first_hit=True),
    Dim("utm_medium", "UTM medium", VISIT, "campaign_medium", first_hit=True),
    Dim("utm_campaign", "UTM campaign", VISIT, "campaign_name", first_hit=True),
    Dim("country", "Country", HIT, "country_code"),
    Dim("region", "Region", HIT, "subdivision_name"),
    Dim("city", "City", HIT, "city_name"),
    Dim("browser", "Browser", HIT, "browser_name"),
    Dim("browser_version", "Browser version", HIT, "browser_version"),
    Dim("os", "Operating system", HIT, "os_name"),
    Dim("os_version", "OS version", HIT, "os_version"),
    Dim("device", "Device type", HIT, "device_type"),
    Dim("screen", "Screen size", HIT,
        "if(screen_width = 0, '', concat(toString(screen_width), 'x', toString(screen_height)))"),
    Dim("language", "Language", HIT, "language"),
    Dim("event_category", "Event category", CONTAINS, "event_category", kind="event"),
    Dim("event_action", "Event action", CONTAINS, "event_action", kind="event"),
    Dim("event_name", "Event name", CONTAINS, "event_name", kind="event"),
    Dim("keyword", "Search keyword", CONTAINS, "search_keyword", kind="site_search"),
    Dim("outlink", "Outlink", CONTAINS, "link_url", kind="outlink"),
    Dim("download", "Download", CONTAINS, "link_url", kind="download"),
)

# The value a first-hit attribute has on hits that are not a visit's first: a filter on it cannot
# narrow the visitors down beforehand.
FIRST_HIT_DEFAULT = {"referrer_type": "direct"}
