"""What the dashboard templates show: numbers formatted for people, labels, and the links that
change the range or the filters while keeping the rest of the query.

The stats layer returns raw numbers (also the JSON API's answer); everything a template needs on top
of that is built here, so templates stay free of logic and the JSON stays free of presentation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from gateway.stats.countries import country_name
from gateway.stats.custom_dims import REPORT as CUSTOM_REPORT
from gateway.stats.query import FILTERS, PERIODS, StatsQuery
from gateway.stats.reports import REPORTS, spec_of

# Cards of the overview: (id, title, tabs). A tab names its report, and the report it becomes when a
# filter on its own dimension is set (countries -> regions -> cities, browsers -> versions), so a
# click on a row drills down instead of showing one row at 100 %.
CARDS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("pages", "Pages", (("pages", "Pages"), ("entry_pages", "Entry pages"), ("exit_pages", "Exit pages"))),
    ("sources", "Sources", (("sources", "Sources"), ("referrer_types", "Channels"),
                            ("utm_sources", "UTM source"), ("utm_mediums", "UTM medium"),
                            ("utm_campaigns", "UTM campaign"))),
    ("locations", "Locations", (("countries", "Countries"), ("regions", "Regions"), ("cities", "Cities"))),
    ("devices", "Devices", (("browsers", "Browsers"), ("os", "Operating systems"), ("devices", "Devices"),
                            ("screens", "Screens"), ("languages", "Languages"))),
    ("behaviour", "Behaviour", (("event_categories", "Events"), ("search_keywords", "Site search"),
                                ("outlinks", "Outlinks"), ("downloads", "Downloads"))),
)
# Drill-down chains: (report, the filter key its rows set). With a filter at some level, the tab shows
# the level below it (Germany -> its regions; Berlin -> its cities; Chrome -> its versions).
CHAINS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("countries", "country"), ("regions", "region"), ("cities", "city")),
    (("browsers", "browser"), ("browser_versions", "browser_version")),
    (("os", "os"), ("os_versions", "os_version")),
    (("event_categories", "event_category"), ("event_actions", "event_action"),
     ("event_names", "event_name")),
)
VERSION_DIMS = {"browser_version", "os_version"}
REFERRER_TYPE_LABELS = {"direct": "Direct", "search": "Search engines", "social": "Social networks",
                        "campaign": "Campaigns", "website": "Websites"}
UNKNOWN = "(not set)"
GOOD_WHEN_LOWER = {"bounce_rate"}
FIGURE_LABELS = {"visitors": "Unique visitors", "visits": "Visits", "actions": "Actions",
                 "actions_per_visit": "Actions per visit", "pageviews": "Pageviews",
                 "views_per_visit": "Views per visit", "bounce_rate": "Bounce rate",
                 "avg_duration": "Visit duration"}


def number(value: float | int | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def percent(value: float | int | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def metric(key: str, value: Any) -> str:
    if key == "bounce_rate":
        return percent(value)
    if key == "avg_duration":
        return duration(value)
    return number(value)


def change(value: float | None) -> str:
    if value is None:
        return "—"
    if round(value) == 0:
        return "0%"
    return f"+{value:.0f}%" if value > 0 else f"−{abs(value):.0f}%"


def dim_display(key: str, value: str) -> str:
    if key == "country":
        return country_name(value) if value else UNKNOWN
    if key == "referrer_type":
        return REFERRER_TYPE_LABELS.get(value, value or UNKNOWN)
    if key == "source" and not value:
        return "Direct / none"
    return value or UNKNOWN


def row_label(dims: Sequence[str], row: Mapping[str, Any]) -> str:
    """One label for a row: the innermost dimension, with its parents for context."""
    last = dims[-1]
    if last in VERSION_DIMS:
        return f"{dim_display(dims[0], row[dims[0]])} {row[last] or UNKNOWN}"
    label = dim_display(last, row[last])
    parents = [dim_display(d, row[d]) for d in reversed(dims[:-1]) if row[d]]
    return f"{label} ({', '.join(parents)})" if parents else label


def json_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A report's rows for its JSON twin: the machine values (``source: ""``, ``referrer_type:
    "direct"``, ``country: "DE"``) kept as they are, plus ``label``, the row's name on the page
    ("Direct / none", "Search engines", "Bavaria (Germany)"), so scripts need not rebuild it."""
    dims = spec_of(result).dims
    return [{**row, "label": row_label(dims, row)} for row in result["rows"]]


def csv_columns(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """A report's CSV columns: the JSON's (machine values a script or a filter takes: ``DE``,
    ``search``, ``""``), then ``label``, the row's name on the page (``json_rows``), last, so the
    columns before it keep their places."""
    return [*result["columns"], {"key": "label", "label": "Label", "kind": "label"}]


def filter_label(key: str, query: StatsQuery | None = None) -> str:
    """A filter's name; a custom dimension's is the site's name for it (``query.custom``)."""
    spec = FILTERS.get(key)
    if spec is None and query is not None:
        return next((d.label for d in query.custom if d.key == key), key)
    return spec.label if spec is not None else key


class Links:
    """URLs of the dashboard for one site and query: the same range and filters, one thing changed."""

    def __init__(self, prefix: str, site_id: int, query: StatsQuery,
                 keep: Sequence[tuple[str, str]] = ()) -> None:
        self.prefix, self.site_id, self.query = prefix, site_id, query
        # Pairs every link to a report carries: the custom-dimension report's ``dimension=N``.
        self.keep = list(keep)

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.site_id}"

    def range_params(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.query.params() if k in ("period", "from", "to")]

    def filter_params(self) -> list[tuple[str, str]]:
        return [(f.key, f.value) for f in self.query.filters]

    def href(self, path: str = "", params: Sequence[tuple[str, str]] | None = None,
             **extra: str | int) -> str:
        pairs = list(self.query.params() if params is None else params)
        pairs += [(k, str(v)) for k, v in extra.items()]
        if path.startswith("/reports/"):
            given = {k for k, _ in pairs}
            pairs += [(k, v) for k, v in self.keep if k not in given]
        query = urlencode(pairs)
        return f"{self.base}{path}" + (f"?{query}" if query else "")

    def with_filters(self, filters: Mapping[str, str], path: str = "") -> str:
        kept = [(k, v) for k, v in self.filter_params() if k not in filters]
        return self.href(path, [*self.range_params(), *kept, *filters.items()])

    def without_filter(self, key: str, path: str = "") -> str:
        kept = [(k, v) for k, v in self.filter_params() if k != key]
        return self.href(path, [*self.range_params(), *kept])

    def with_period(self, period: str, path: str = "") -> str:
        return self.href(path, [("period", period), *self.filter_params()])


def active_report(report: str, query: StatsQuery) -> str:
    """The report a tab shows: drilled down below the deepest filter set in its chain."""
    keys = {f.key for f in query.filters}
    for chain in CHAINS:
        names = [name for name, _ in chain]
        if report in names:
            deepest = max((i for i, (_, key) in enumerate(chain) if key in keys), default=-1)
            return names[max(names.index(report), min(deepest + 1, len(names) - 1))]
    return report


def chain_root(report: str) -> str:
    return next((chain[0][0] for chain in CHAINS if report in {name for name, _ in chain}), report)


def periods(links: Links, path: str = "") -> list[dict[str, Any]]:
    current = links.query.range.period
    return [{"key": key, "label": label, "href": links.with_period(key, path), "current": key == current}
            for key, label in PERIODS]


def filter_chips(links: Links, path: str = "") -> list[dict[str, str]]:
    return [{"key": f.key, "label": filter_label(f.key, links.query), "value": f.value,
             "display": dim_display(f.key, f.value), "remove_href": links.without_filter(f.key, path)}
            for f in links.query.filters]


def hidden_inputs(links: Links) -> list[dict[str, str]]:
    """The filters (and a custom report's ``dimension``) as hidden form fields, so the custom-range
    and search forms keep them."""
    return [{"name": k, "value": v} for k, v in [*links.filter_params(), *links.keep]]


def range_context(query: StatsQuery) -> dict[str, str]:
    current, previous = query.range, query.range.previous()
    return {"label": current.label, "period": current.period, "start": current.start.isoformat(),
            "end": current.end.isoformat(), "previous_label": f"vs {previous.label}"}


def figure_cards(figures: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    cards = []
    for key, figure in figures.items():
        delta = figure.get("change")
        trend = None if delta is None else ("flat" if round(delta) == 0 else "up" if delta > 0 else "down")
        good = None if trend in (None, "flat") else (trend == "down") == (key in GOOD_WHEN_LOWER)
        cards.append({"key": key, "label": FIGURE_LABELS.get(key, key), "value": metric(key, figure["value"]),
                      "previous": metric(key, figure.get("previous")), "change": change(delta),
                      "trend": trend, "good": good})
    return cards


def chart_rows(series: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chart's data table: a row per bucket shown (none still to come), the one "now" falls in
    marked ``present`` (its figures are so far, the page says so as the chart's dashed end does)."""
    present = series.get("present_index")
    return [{"label": label, "visitors": series["visitors"][i], "pageviews": series["pageviews"][i],
             "previous_visitors": series["previous_visitors"][i],
             "previous_pageviews": series["previous_pageviews"][i], "present": i == present}
            for i, label in enumerate(series["labels"])]


def table(result: Mapping[str, Any], links: Links, *, more: bool = True,
          limit: int | None = None) -> dict[str, Any]:
    """A breakdown as the template's table: one label column (a filter link), then the metrics."""
    report = spec_of(result)
    rows = result["rows"]
    first_metric = report.metrics[0]
    top = max((float(r[first_metric] or 0) for r in rows), default=0.0)
    label_title = report.labels.get(report.dims[-1], report.dims[-1])
    columns = [{"key": "label", "label": label_title, "numeric": False},
               *({"key": m, "label": report.labels.get(m, m), "numeric": True} for m in report.metrics)]
    # A row filters by its own value and its outermost parent (Berlin in Germany; Chrome 120), not by
    # every level between: one chip per thing the user clicked, plus what makes it unambiguous.
    filter_dims = (report.dims[0], report.dims[-1]) if len(report.dims) > 1 else report.dims
    body = []
    for row in rows:
        label = row_label(report.dims, row)
        body.append({"cells": [label, *(metric(m, row[m]) for m in report.metrics)],
                     "href": links.with_filters({d: str(row[d]) for d in filter_dims}),
                     "share": round(float(row[first_metric] or 0) / top, 4) if top else 0.0,
                     "title": label})
    path = f"/reports/{report.name}"
    more_href = None
    if more and (result.get("has_more") or limit is not None):
        more_href = links.href(path)
    return {"report": report.name, "title": report.title, "columns": columns, "rows": body,
            "more_href": more_href, "csv_href": links.href(path + ".csv"),
            "json_href": links.href(path + ".json"), "empty_text": "No data for this range"}


def tabs(card_tabs: Sequence[tuple[str, str]], links: Links, current: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for report, label in card_tabs:
        shown = active_report(report, links.query)
        if shown != report:
            label = REPORTS[shown].title
        if any(tab["report"] == shown for tab in out):
            continue  # countries drilled down to regions: one Regions tab, not two
        out.append({"report": shown, "label": label, "href": links.href(f"/reports/{shown}"),
                    "fragment_href": links.href(f"/reports/{shown}", fragment="card"),
                    "current": shown == current})
    return out


def custom_tabs(links: Links, current: str = "") -> list[dict[str, Any]]:
    """A tab per custom dimension of the site, by its name; ``current``: the N shown (default: the first)."""
    path = f"/reports/{CUSTOM_REPORT}"
    numbers = [d.key.removeprefix("dimension") for d in links.query.custom]
    return [{"report": f"{CUSTOM_REPORT}-{n}", "label": d.label, "href": links.href(path, dimension=n),
             "fragment_href": links.href(path, dimension=n, fragment="card"),
             "current": n == (current or numbers[0])}
            for n, d in zip(numbers, links.query.custom, strict=True)]


def custom_card(links: Links) -> list[dict[str, Any]]:
    """The overview's card of the site's custom dimensions (as a list: none without any)."""
    if not links.query.custom:
        return []
    return [{"id": "custom_dimensions", "title": "Custom dimensions", "table": None,
             "tabs": custom_tabs(links)}]


def report_tabs(report: str, links: Links) -> list[dict[str, Any]]:
    """The tabs of the card a report belongs to (a drilled-down report belongs to its chain's)."""
    root = chain_root(report)
    for _, _, card_tabs in CARDS:
        if any(name == root for name, _ in card_tabs):
            return tabs(card_tabs, links, report)
    return []


CONSENT_LABELS = {"accept_all": "Accept all", "reject_all": "Reject all", "custom": "Custom choice",
                  "withdraw": "Withdrawn"}
# Decided without asking: counted apart, never in the opt-in rate (gateway/stats/consent.py).
AUTOMATIC_LABELS = {"gpc": "Refused by GPC signal", "dnt": "Refused by Do Not Track",
                    "regime": "Opt-out law default"}


def consent_context(result: Mapping[str, Any]) -> dict[str, Any]:
    totals, previous = result["totals"], result["previous"]["totals"]
    series = result["series"]
    return {
        "totals": [{"key": key, "label": label, "value": number(totals[key]),
                    "previous": number(previous[key])} for key, label in CONSENT_LABELS.items()],
        "opt_in_rate": percent(result["opt_in_rate"]),
        "previous_opt_in_rate": percent(result["previous"]["opt_in_rate"]),
        "automatic": [{"key": key, "label": label, "value": number(result["automatic"][key]),
                       "previous": number(result["previous"]["automatic"][key])}
                      for key, label in AUTOMATIC_LABELS.items()],
        "chart": {"unit": result["unit"], "labels": result["labels"],
                  **{k: series[k] for k in CONSENT_LABELS}},
        "rows": [{"label": label, **{k: series[k][i] for k in CONSENT_LABELS}}
                 for i, label in enumerate(result["labels"])],
    }
