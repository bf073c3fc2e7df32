"""Every dashboard template renders with a complete sample context under StrictUndefined and
autoescape, which pins the context contract between the views and the templates; and the pages keep
what a user (and the CSP) would notice: no inline script or style, escaped chart JSON, removable
filter chips, a logout form with its CSRF field, the GeoIP attribution in the footer."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parents[2] / "gateway" / "dashboard" / "templates"
PAGES = ("login.html", "sites.html", "overview.html", "report.html", "realtime.html", "consent.html",
         "error.html")
HOSTILE = '</script><script>alert("x")</script>'  # a page path a visitor could have sent
STATIC = "/dashboard/static/dashboard.abc123"
PERIODS = (("today", "Today"), ("yesterday", "Yesterday"), ("7d", "Last 7 days"), ("30d", "Last 30 days"),
           ("90d", "Last 90 days"), ("month", "This month"), ("lastmonth", "Last month"),
           ("12mo", "Last 12 months"))

Context = dict[str, Any]


def environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined)


def common() -> Context:
    return {
        "assets": {"js": f"{STATIC}.js", "css": f"{STATIC}.css"},
        "user": {"name": "maria", "role": "viewer"},
        "shared": False,
        "csrf": "csrf-token-1",
        "attributions": [{"text": "This product includes GeoLite2 data created by MaxMind, available from "
                                  "https://www.maxmind.com", "url": "https://www.maxmind.com"},
                         {"text": "IP Geolocation by DB-IP", "url": "https://db-ip.com"}],
        "version": "1.4.0",
    }


def query_parts() -> Context:
    base = "/dashboard/1"
    return {
        "site": {"id": 1, "name": "Shop", "timezone": "Europe/Berlin", "href": base},
        "sites": [{"id": 1, "name": "Shop", "href": base}, {"id": 2, "name": "Blog", "href": "/dashboard/2"}],
        "range": {"label": "Last 7 days", "period": "7d", "start": "2026-11-15", "end": "2026-11-21",
                  "previous_label": "vs 8 Nov – 14 Nov"},
        "periods": [{"key": key, "label": label, "href": f"{base}?period={key}", "current": key == "7d"}
                    for key, label in PERIODS],
        "filters": [
            {"key": "country", "label": "Country", "value": "DE", "display": "Germany",
             "remove_href": f"{base}?period=7d&city=Berlin"},
            {"key": "city", "label": "City", "value": "Berlin", "display": "Berlin",
             "remove_href": f"{base}?period=7d&country=DE"},
        ],
        "clear_href": f"{base}?period=7d",
        "hidden": [{"name": "country", "value": "DE"}, {"name": "city", "value": "Berlin"}],
    }


def table(report: str, title: str, dim: str, labels: list[str], *, more: bool = True) -> Context:
    query = "period=7d&country=DE&city=Berlin"
    peak = len(labels) * 100
    return {
        "report": report, "title": title,
        "columns": [{"key": dim, "label": dim.replace("_", " ").capitalize(), "numeric": False},
                    {"key": "visitors", "label": "Visitors", "numeric": True},
                    {"key": "pageviews", "label": "Pageviews", "numeric": True}],
        "rows": [{"cells": [label, f"{(len(labels) - i) * 100:,}", f"{(len(labels) - i) * 240:,}"],
                  "href": f"/dashboard/1?{query}&{dim}={i}", "share": (len(labels) - i) * 100 / peak,
                  "title": label} for i, label in enumerate(labels)],
        "more_href": f"/dashboard/1/reports/{report}?{query}" if more else None,
        "csv_href": f"/dashboard/1/reports/{report}.csv?{query}",
        "json_href": f"/dashboard/1/reports/{report}.json?{query}",
        "empty_text": "No data for this range",
    }


PAGE_TABS = (("pages", "Top pages"), ("entry_pages", "Entry pages"), ("exit_pages", "Exit pages"))
# (card id, title, tabs (report, label), labels of the first tab's rows)
CARDS: tuple[tuple[str, str, tuple[tuple[str, str], ...], list[str]], ...] = (
    ("pages", "Pages", PAGE_TABS,
     ["/", "/products/brake-pads", "/cart", HOSTILE, "/blog/a-very-long-article-title-about-winter-tyres"]),
    ("sources", "Sources", (("sources", "Sources"), ("referrer_types", "Channels"),
                            ("utm_sources", "UTM source"), ("utm_mediums", "Medium"),
                            ("utm_campaigns", "Campaign")),
     ["Google", "Direct", "Newsletter", "Bing", "reddit.com"]),
    ("locations", "Locations", (("countries", "Countries"), ("regions", "Regions"), ("cities", "Cities")),
     ["Germany", "Austria", "Switzerland"]),
    ("devices", "Devices", (("browsers", "Browser"), ("os", "OS"), ("devices", "Device"),
                            ("screens", "Screen"), ("languages", "Language")),
     ["Chrome", "Firefox", "Safari", "Edge"]),
    ("behaviour", "Behaviour", (("event_categories", "Events"), ("search_keywords", "Site search"),
                                ("outlinks", "Outlinks"), ("downloads", "Downloads")), []),
)


def overview() -> Context:
    days = [f"2026-11-{day:02d}" for day in range(15, 22)]
    visitors = [120, 180, 160, 210, 250, 90, 70]
    cards = []
    for card_id, title, tabs, labels in CARDS:
        first = tabs[0][0]
        cards.append({
            "id": card_id, "title": title,
            "tabs": [{"report": report, "label": label, "href": f"/dashboard/1/reports/{report}?period=7d",
                      "fragment_href": f"/dashboard/1/reports/{report}?period=7d&fragment=card",
                      "current": report == first} for report, label in tabs],
            "table": table(first, tabs[0][1], first, labels),
        })
    return {
        **query_parts(),
        "figures": [
            {"key": "visitors", "label": "Unique visitors", "value": "1,080", "previous": "960",
             "change": "+12%", "trend": "up", "good": True},
            {"key": "visits", "label": "Visits", "value": "1,420", "previous": "1,465", "change": "−3%",
             "trend": "down", "good": False},
            {"key": "pageviews", "label": "Pageviews", "value": "4,310", "previous": "4,310", "change": "—",
             "trend": "flat", "good": None},
            {"key": "views_per_visit", "label": "Views per visit", "value": "3.0", "previous": "2.9",
             "change": "+3%", "trend": "up", "good": True},
            {"key": "bounce_rate", "label": "Bounce rate", "value": "41%", "previous": "45%", "change": "−9%",
             "trend": "down", "good": True},
            {"key": "avg_duration", "label": "Visit duration", "value": "2m 31s", "previous": "—",
             "change": "—", "trend": None, "good": None},
        ],
        "chart": {"unit": "day", "labels": days, "visitors": visitors,
                  "pageviews": [v * 3 for v in visitors], "previous_visitors": [v - 15 for v in visitors],
                  "previous_pageviews": [v * 3 - 40 for v in visitors],
                  "previous_label": "8 Nov – 14 Nov </script><!--"},
        "chart_rows": [{"label": day, "visitors": v, "pageviews": v * 3, "previous_visitors": v - 15,
                        "previous_pageviews": v * 3 - 40} for day, v in zip(days, visitors, strict=True)],
        "cards": cards,
        "realtime": {"visitors": 7, "json_href": "/dashboard/1/realtime.json",
                     "href": "/dashboard/1/realtime"},
        "links": {"json": "/dashboard/1.json?period=7d", "consent": "/dashboard/1/consent?period=7d",
                  "realtime": "/dashboard/1/realtime"},
        "no_visits": None,
    }


def report() -> Context:
    labels = ["/", "/products/brake-pads", "/cart", "/checkout"]
    return {
        **query_parts(),
        "table": table("pages", "Top pages", "page", labels, more=False),
        "search": "pro",
        "prev_href": None,
        "next_href": "/dashboard/1/reports/pages?period=7d&offset=100",
        "back_href": "/dashboard/1?period=7d&country=DE&city=Berlin",
        "tabs": [{"report": r, "label": label, "href": f"/dashboard/1/reports/{r}?period=7d",
                  "fragment_href": f"/dashboard/1/reports/{r}?period=7d&fragment=card",
                  "current": r == "pages"} for r, label in PAGE_TABS],
    }


def realtime() -> Context:
    parts = query_parts()
    return {
        "site": parts["site"], "sites": parts["sites"],
        "realtime": {"visitors": 7, "pageviews": 23, "since": "2026-11-21T12:30:00Z",
                     "pages": [{"page": "/", "visitors": 4}, {"page": "/cart", "visitors": 2}],
                     "minutes": [i % 5 for i in range(30)], "json_href": "/dashboard/1/realtime.json"},
    }


def consent() -> Context:
    parts = query_parts()
    days = [f"2026-11-{day:02d}" for day in range(15, 22)]
    series = {"accept_all": [40, 52, 48, 60, 58, 30, 25], "reject_all": [12, 15, 10, 14, 18, 8, 6],
              "custom": [5, 6, 4, 7, 9, 3, 2], "withdraw": [1, 0, 2, 1, 0, 0, 1]}
    return {
        "site": parts["site"], "sites": parts["sites"], "range": parts["range"], "periods": parts["periods"],
        "consent": {
            "totals": [{"key": "accept_all", "label": "Accept all", "value": "313", "previous": "290"},
                       {"key": "reject_all", "label": "Reject all", "value": "83", "previous": "95"},
                       {"key": "custom", "label": "Custom", "value": "36", "previous": "30"},
                       {"key": "withdraw", "label": "Withdraw", "value": "5", "previous": "4"}],
            "opt_in_rate": "72.4%", "previous_opt_in_rate": "69.0%",
            "automatic": [{"key": "gpc", "label": "Refused by GPC signal", "value": "41", "previous": "37"},
                          {"key": "dnt", "label": "Refused by Do Not Track", "value": "0", "previous": "0"},
                          {"key": "regime", "label": "Opt-out law default", "value": "12", "previous": "9"}],
            "chart": {"unit": "day", "labels": days, **series},
            "rows": [{"label": day, **{key: values[i] for key, values in series.items()}}
                     for i, day in enumerate(days)],
        },
    }


def page_context(page: str) -> Context:
    """The complete context of one page, as the views fill it (used by the screenshots, too)."""
    specific: dict[str, Context] = {
        "login.html": {"error": "Wrong user name or password.", "username": "maria", "next": "/dashboard/1",
                       "retry_after": None, "user": None, "no_users": False},
        "sites.html": {"sites": [
            {"id": 1, "name": "Shop", "href": "/dashboard/1", "timezone": "Europe/Berlin"},
            {"id": 2, "name": "Blog", "href": "/dashboard/2", "timezone": "UTC"},
        ]},
        "overview.html": overview(),
        "report.html": report(),
        "realtime.html": realtime(),
        "consent.html": consent(),
        "error.html": {"status": 404, "message": "No such report."},
    }
    return {**common(), **specific[page]}


def render(page: str, context: Context | None = None) -> str:
    return environment().get_template(page).render(context if context is not None else page_context(page))


class Tags(HTMLParser):
    """Collects start tags with their attributes, and the text of <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_its_full_context(page: str) -> None:
    html = render(page)
    assert html.startswith("<!doctype html>")
    assert f'<link rel="stylesheet" href="{STATIC}.css">' in html
    assert f'<script src="{STATIC}.js" defer></script>' in html


@pytest.mark.parametrize("page", [p for p in PAGES if p not in ("login.html", "sites.html", "error.html")])
def test_a_missing_context_key_fails_loudly(page: str) -> None:
    context = page_context(page)
    del context["site"]
    with pytest.raises(Exception, match="site"):
        render(page, context)


@pytest.mark.parametrize("page", PAGES)
def test_no_inline_script_style_or_handler_for_the_csp(page: str) -> None:
    tags = parse(render(page))
    for tag, attrs in tags.tags:
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert tag != "style"
        if tag == "script":
            assert "src" in attrs or attrs.get("type") == "application/json", attrs
    for (_, attrs), text in zip([t for t in tags.tags if t[0] == "script"], tags.scripts, strict=True):
        assert bool(text.strip()) == ("src" not in attrs)


def test_the_chart_json_is_escaped_and_intact() -> None:
    html = render("overview.html")
    block = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S)
    assert block is not None
    assert "<" not in block[1]  # "</script>" in a label cannot end the data block
    assert json.loads(block[1]) == page_context("overview.html")["chart"]
    consent_block = re.search(r'<script type="application/json" id="consent-data">(.*?)</script>',
                              render("consent.html"), re.S)
    assert consent_block is not None and json.loads(consent_block[1])["accept_all"][0] == 40


def test_a_hostile_page_path_is_escaped_in_tables() -> None:
    html = render("overview.html")
    assert HOSTILE not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(" in html


def test_filter_chips_have_remove_links_and_clear_all() -> None:
    tags = parse(render("overview.html")).tags
    removes = [attrs for tag, attrs in tags if tag == "a" and attrs.get("class") == "chip-remove"]
    assert [a["href"] for a in removes] == ["/dashboard/1?period=7d&city=Berlin",
                                            "/dashboard/1?period=7d&country=DE"]
    assert all((a.get("aria-label") or "").startswith("Remove filter") for a in removes)
    assert ("a", {"class": "clear-all", "href": "/dashboard/1?period=7d"}) in tags
    context = page_context("overview.html")
    context["filters"] = []
    assert "Clear all" not in render("overview.html", context)


def test_the_custom_range_form_keeps_the_filters() -> None:
    form = render("overview.html").split('<form class="range-form"', 1)[1].split("</form>", 1)[0]
    for name, value in (("period", "custom"), ("country", "DE"), ("city", "Berlin")):
        assert f'<input type="hidden" name="{name}" value="{value}">' in form
    assert 'name="from" value="2026-11-15"' in form and 'name="to" value="2026-11-21"' in form


def test_the_logout_form_posts_with_the_csrf_field() -> None:
    html = render("sites.html")
    form = html.split('<form class="logout"', 1)[1].split("</form>", 1)[0]
    assert 'method="post" action="/dashboard/logout"' in form
    assert '<input type="hidden" name="csrf" value="csrf-token-1">' in form
    shared = {**page_context("overview.html"), "user": None, "shared": True}
    assert "/dashboard/logout" not in render("overview.html", shared)


def test_the_login_form_has_its_fields() -> None:
    html = render("login.html")
    for field in ('name="username" value="maria" autocomplete="username"', 'autocomplete="current-password"',
                  'name="csrf" value="csrf-token-1"', 'name="next" value="/dashboard/1"'):
        assert field in html
    throttled = {**page_context("login.html"), "retry_after": 600}
    assert "Try again in 10 minutes" in render("login.html", throttled)


def test_the_attribution_is_in_the_footer() -> None:
    html = render("overview.html")
    footer = html.split('<footer class="foot">', 1)[1]
    assert 'GeoLite2 data created by MaxMind, available from <a href="https://www.maxmind.com"' in footer
    assert '<a href="https://db-ip.com" rel="noopener">IP Geolocation by DB-IP</a>' in footer
    assert "consent-gateway 1.4.0" in footer
    assert "MaxMind" not in render("overview.html", {**page_context("overview.html"), "attributions": []})


def test_tabs_are_an_aria_tablist_with_fragments_and_bars_carry_shares() -> None:
    tags = parse(render("overview.html")).tags
    tabs = [attrs for tag, attrs in tags if attrs.get("role") == "tab"]
    assert len(tabs) == sum(len(card[2]) for card in CARDS)
    assert all((t.get("data-fragment") or "").endswith("&fragment=card") for t in tabs)
    assert sum(t["aria-selected"] == "true" for t in tabs) == len(CARDS)
    panels = {attrs["id"] for tag, attrs in tags if attrs.get("role") == "tabpanel"}
    assert {t["aria-controls"] for t in tabs} == panels
    shares = [float(attrs["data-share"] or "") for tag, attrs in tags if "data-share" in attrs]
    assert shares and all(0 <= s <= 1 for s in shares)


def test_the_card_fragment_renders_alone_and_empty() -> None:
    fragment = environment().get_template("_report_table.html")
    html = fragment.render(table=table("pages", "Top pages", "page", ["/"]))
    assert '<th scope="col" class="num">Visitors</th>' in html and "<caption" in html
    empty = fragment.render(table=table("outlinks", "Outlinks", "outlink", [], more=False))
    assert "No data for this range" in empty and "More" not in empty
