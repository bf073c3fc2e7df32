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

# A visit's source, as Plausible shows it: a campaign's utm_source / mtm_source / pk_source; else the
# search engine, network or website (its host) the referrer was classified as; '' for direct. Read
# from the stored columns, so rows stored before ingest named a campaign by its source (their
# ``referrer_name`` is the campaign's name, or its source without one) answer the same: a campaign
# with a source is named by ``campaign_source``; one without is named by ``referrer_name`` unless
# that is the campaign's own name (an old row), and then by the referrer's host, the best it kept
# (direct when that is the page's own host, with or without www., as ingest decides now; an alias
# host of the site is beyond what a stored row can tell). Left as it is: a new row whose referrer is
# named exactly as its campaign reads as an old one, and shows the referrer's host instead.
_OWN_HOST = ("(referrer_host = url_host OR referrer_host = concat('www.', url_host) "
             "OR url_host = concat('www.', referrer_host))")
SOURCE = ("multiIf(referrer_type != 'campaign', if(referrer_name != '', referrer_name, referrer_host), "
          "campaign_source != '', campaign_source, "
          f"referrer_name != campaign_name, referrer_name, {_OWN_HOST}, '', referrer_host)")
# ``SOURCE = {v}`` column by column, for a non-empty {v} (an empty source is direct, which no filter
# narrows on: engine._hit_matching): LowCardinality columns compare without building strings.
SOURCE_MATCH = ("((referrer_type != 'campaign' AND (referrer_name = {v} OR (referrer_name = '' AND "
                "referrer_host = {v}))) OR (referrer_type = 'campaign' AND (campaign_source = {v} OR "
                "(campaign_source = '' AND ((referrer_name != campaign_name AND referrer_name = {v}) OR "
                f"(referrer_name = campaign_name AND referrer_host = {{v}} AND NOT {_OWN_HOST}))))))")


@dataclass(frozen=True, slots=True)
class Dim:
    key: str
    label: str
    level: str
    expr: str
    kind: str = ""  # event type of a "contains" dimension's hits
    first_hit: bool = False  # a visit attribute taken from the visit's first hit
    match: str = ""  # a faster test of ``expr = {v}`` on the stored columns, when there is one
    # Custom dimensions (``custom_dims``): which hits carry values (default: those of ``kind``), and
    # for a visit's, that any of its hits may set the value, the visit's last one counting.
    hits: str = ""
    last_set: bool = False

    def equals(self, value: str) -> str:
        """SQL testing this dimension against ``value`` (a bound parameter placeholder)."""
        return self.match.replace("{v}", value) if self.match else f"{self.expr} = {value}"

    @property
    def hit_condition(self) -> str:
        """Which events rows this dimension's report reads ("1": all of them)."""
        if self.hits:
            return self.hits
        return f"event_type = '{self.kind}'" if self.kind else "1"


def _dims(*dims: Dim) -> dict[str, Dim]:
    return {d.key: d for d in dims}


# Order: as filter chips and the contract list them.
DIMS = _dims(
    Dim("page", "Page", CONTAINS, "url_path", kind="pageview"),
    Dim("entry_page", "Entry page", VISIT, "url_path"),
    Dim("exit_page", "Exit page", VISIT, "url_path"),
    Dim("referrer_type", "Channel", VISIT, "toString(referrer_type)", first_hit=True),
    Dim("source", "Source", VISIT, SOURCE, first_hit=True, match=SOURCE_MATCH),
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
