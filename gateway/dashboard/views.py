"""The dashboard's pages: the site list, a site's overview, a full report, realtime and consent.

Each handler is the same short pipeline: who is asking (``access``), which site and query
(``gateway.stats.query``), the stats functions run off the event loop, then one of three answers
(``pages``): HTML, its JSON twin, or CSV. Statistics never fail with a 500: a bad query is a 400
naming the parameter, ClickHouse trouble a 503 with Retry-After (``gateway.web.unavailable``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from gateway.config.settings import Settings
from gateway.config.sites import Site
from gateway.dashboard import annotations_views as notes_views
from gateway.dashboard import context as ctx
from gateway.dashboard.access import Viewer, viewer
from gateway.dashboard.pages import (
    csv_response,
    error_page,
    json_response,
    json_suffix,
    redirect,
    render,
    split_suffix,
    unavailable_page,
    wanted,
)
from gateway.ingest.outcomes import DROPPED, Drop
from gateway.rights.retention import oldest_kept
from gateway.stats import custom_dims
from gateway.stats.consent import consent_stats
from gateway.stats.overview import figures
from gateway.stats.query import DateRange, QueryError, StatsQuery, parse_query
from gateway.stats.realtime import realtime
from gateway.stats.reports import REPORTS, breakdown
from gateway.stats.summary import current_builds
from gateway.stats.timeseries import timeseries
from gateway.web.unavailable import OUTAGE

log = logging.getLogger(__name__)
T = TypeVar("T")
PAGE_SIZE, MAX_PAGE, CSV_ROWS = 50, 1000, 10_000


class Unavailable(Exception):
    """ClickHouse did not answer a statistics query."""


@dataclass(frozen=True, slots=True)
class Call:
    site: Site
    who: Viewer
    fmt: str
    query: StatsQuery
    links: ctx.Links
    now: datetime


async def stats(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a stats function off the event loop; anything but a QueryError (a 400) becomes a 503."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except QueryError:
        raise
    except OUTAGE as exc:  # down, unreachable or slow: the answer (gateway.web.unavailable) logs it
        raise Unavailable from exc
    except Exception as exc:
        # Not an outage: a failure no check foresaw. Still a 503 rather than a 500, with one line in
        # the log naming the function and the type; never the text, which may carry filter values.
        log.error("statistics query %s failed unexpectedly: %s", getattr(function, "__name__", "?"),
                  type(exc).__name__)
        raise Unavailable from exc


def _range_json(r: DateRange) -> dict[str, str]:
    return {"period": r.period, "start": r.start.isoformat(), "end": r.end.isoformat(), "timezone": r.tz,
            "label": r.label}


def _head(call: Call) -> dict[str, Any]:
    """What every JSON answer about a site starts with."""
    return {"site": {"id": call.site.id, "name": call.site.name, "timezone": call.site.timezone,
                     "custom_dimensions": [{"dimension": d.index, "name": d.name, "scope": d.scope}
                                           for d in call.site.custom_dimensions]},
            "range": _range_json(call.query.range),
            "previous_range": _range_json(call.query.range.previous()),
            "filters": {f.key: f.value for f in call.query.filters}}


def _sites(request: Request, who: Viewer) -> list[dict[str, Any]]:
    settings: Settings = request.app.state.settings
    return [{"id": s.id, "name": s.name, "href": f"/dashboard/{s.id}", "timezone": s.timezone}
            for s in who.visible(settings.sites)]


def _page_context(call: Call, request: Request, path: str = "") -> dict[str, Any]:
    return {"site": {"id": call.site.id, "name": call.site.name, "timezone": call.site.timezone,
                     "href": call.links.base},
            "sites": _sites(request, call.who), "range": ctx.range_context(call.query),
            "periods": ctx.periods(call.links, path), "filters": ctx.filter_chips(call.links, path),
            "clear_href": call.links.href(path, call.links.range_params()),
            "hidden": ctx.hidden_inputs(call.links)}


async def open_site(request: Request, suffix: str | None) -> Call | Response:
    """Authenticate, authorise and parse the query, or the response that refuses."""
    state = request.app.state
    fmt = wanted(request, suffix)
    site: Site | None = state.sites_by_id.get(request.path_params["site"])
    who = viewer(request, api=fmt != "html")
    if who is None:
        # A card's tab fetches its body with JavaScript: a redirect there would put the login page
        # inside the card, so it is told 401 and the script opens the (redirecting) report page.
        if fmt != "html" or request.query_params.get("fragment"):
            response = error_page(request, 401, "authentication required: log in, or send the site's "
                                  "token as Authorization: Bearer", as_json=True)
            response.headers["WWW-Authenticate"] = 'Bearer realm="consent-gateway"'
            return response
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/dashboard/login?next={quote(target, safe='')}")
    if site is None:
        return error_page(request, 404, "There is no such site.", as_json=fmt != "html", viewer_=who)
    if not who.can_view(site.id):
        return error_page(request, 403, "You do not have access to this site.", as_json=fmt != "html",
                          viewer_=who)
    now: datetime = state.clock()
    today: date = now.astimezone(ZoneInfo(site.timezone)).date()
    settings: Settings = state.settings
    try:
        query = parse_query(request.query_params.multi_items(), site.id, site.timezone, today,
                            settings.visit_timeout, kept_from=oldest_kept(site, now), now=now,
                            custom=custom_dims.dims_of(site))
    except QueryError as exc:
        return error_page(request, 400, str(exc), as_json=fmt != "html", viewer_=who)
    return Call(site, who, fmt, query, ctx.Links("/dashboard", site.id, query), now)


async def summarised(request: Request, call: Call) -> StatsQuery:
    """The call's query with the closed days the visit summary holds (``gateway.stats.summary``), for
    the statistics that cut visits; without them when ClickHouse cannot say (the statistics will)."""
    try:
        summary = await stats(current_builds, request.app.state.resources.db, call.site.id,
                              call.site.timezone, call.query.visit_timeout)
    except Unavailable:
        return call.query
    return replace(call.query, summary=summary)


def _failed(request: Request, call: Call, exc: Exception) -> Response:
    if isinstance(exc, QueryError):
        return error_page(request, 400, str(exc), as_json=call.fmt != "html", viewer_=call.who)
    return unavailable_page(request, "dashboard statistics", "Statistics are unavailable right now "
                            "(ClickHouse did not answer). Please try again in a minute.",
                            as_json=call.fmt != "html", viewer_=call.who, cause=exc)


async def sites_index(request: Request) -> Response:
    fmt = wanted(request, json_suffix(request))
    who = viewer(request, api=False)
    if who is None:
        if fmt == "json":
            return error_page(request, 401, "authentication required", as_json=True)
        return redirect("/dashboard/login")
    sites = _sites(request, who)
    if fmt == "json":
        return json_response({"sites": sites})
    if len(sites) == 1:
        return redirect(sites[0]["href"])
    return render(request, "sites.html", {"sites": sites}, viewer_=who)


async def overview(request: Request) -> Response:
    call = await open_site(request, json_suffix(request))
    if not isinstance(call, Call):
        return call
    db, q = request.app.state.resources.db, await summarised(request, call)
    # The figures and the chart; each card loads its own report right after the page (a request each,
    # as the stats API does), so the top of the page never waits for the breakdowns. The chart's notes
    # come with them, but cannot fail the page: unreadable, they are None (null in the JSON).
    try:
        figs, series, live, notes = await asyncio.gather(
            stats(figures, db, q), stats(timeseries, db, q),
            stats(realtime, db, call.site.id, call.now, kept_from=q.kept_from),
            notes_views.range_notes(db, call.site.id, q.range.start, q.range.end))
    except (Unavailable, QueryError) as exc:
        return _failed(request, call, exc)
    if call.fmt != "html":
        return json_response({**_head(call), "figures": figs, "timeseries": series,
                              "realtime": {"visitors": live["visitors"]},
                              "annotations": None if notes is None else
                              [n.as_json(author=call.who.user is not None) for n in notes]})
    links = call.links
    previous = call.query.range.previous()
    page = _page_context(call, request) | {
        "figures": ctx.figure_cards(figs),
        "chart": {**series, "previous_label": previous.label,
                  "annotations": notes_views.chart_marks(series, notes)},
        "chart_rows": notes_views.rows_with_notes(ctx.chart_rows(series), series, notes),
        "annotations": notes_views.panel(request, call.site, call.who, notes, call.now),
        "cards": [{"id": card_id, "title": title, "table": None,
                   "tabs": ctx.tabs(tabs, links, ctx.active_report(tabs[0][0], q))}
                  for card_id, title, tabs in ctx.CARDS] + ctx.custom_card(links),
        "realtime": {"visitors": live["visitors"], "json_href": f"{links.base}/realtime.json",
                     "href": f"{links.base}/realtime"},
        "links": {"json": links.href(".json"), "consent": links.href("/consent", links.range_params()),
                  "realtime": f"{links.base}/realtime"},
        "no_visits": await _no_visits(request, call, figs),
    }
    return render(request, "overview.html", page, viewer_=call.who)


async def _no_visits(request: Request, call: Call,
                     figs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """What an overview without a visit (and without filters) says: hits of bots and headless browsers
    are dropped on purpose, so a site tested with Playwright stays empty; with how many the gateway
    dropped as bots since it started (all workers as in ``/-/metrics``; all sites: no counter has one)."""
    if figs["visits"]["value"] or call.query.filters:
        return None
    total = await request.app.state.worker_samples.gather()
    bots = int(total.get("counters", {}).get(DROPPED, {}).get(Drop.BOT, 0))
    # The gateway's figure is its operator's and its users', not a share link's reader's.
    return {"bots": bots if call.who.user is not None else None}


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise QueryError(f"{name}: must be a whole number from {low} to {high}, got {raw[:20]!r}")
    return max(low, min(int(raw), high))


async def report(request: Request) -> Response:
    name, suffix = split_suffix(request.path_params["report"])
    call = await open_site(request, suffix)
    if not isinstance(call, Call):
        return call
    if name not in REPORTS and name != custom_dims.REPORT:
        return error_page(request, 404, f"There is no report named {name[:40]!r}.",
                          as_json=call.fmt != "html", viewer_=call.who)
    fragment = request.query_params.get("fragment") == "card"
    try:
        default = 10 if fragment else PAGE_SIZE
        limit = CSV_ROWS if call.fmt == "csv" else _int_param(request, "limit", default, 1, MAX_PAGE)
        offset = 0 if call.fmt == "csv" else _int_param(request, "offset", 0, 0, 10_000_000)
    except QueryError as exc:
        return error_page(request, 400, str(exc), as_json=call.fmt != "html", viewer_=call.who)
    search = request.query_params.get("search", "")[:200]
    if len(request.query_params.getlist("dimension")) > 1:  # as any parameter given twice
        return error_page(request, 400, "dimension: given more than once", as_json=call.fmt != "html",
                          viewer_=call.who)
    try:
        result = await stats(breakdown, request.app.state.resources.db, await summarised(request, call), name,
                             limit=limit, offset=offset, search=search,
                             dimension=request.query_params.get("dimension", ""))
    except (Unavailable, QueryError) as exc:
        return _failed(request, call, exc)
    if "dimension" in result:  # a custom dimension's report: its links keep dimension=N
        call = replace(call, links=ctx.Links("/dashboard", call.site.id, call.query,
                                             keep=[("dimension", str(result["dimension"]))]))
    if call.fmt == "json":
        return json_response({**_head(call), **result, "rows": ctx.json_rows(result), "limit": limit,
                              "offset": offset, "search": search})
    r = call.query.range
    if call.fmt == "csv":
        which = f"{name}-dimension{result['dimension']}" if "dimension" in result else name
        filename = f"site-{call.site.id}-{which}-{r.start}-{r.end}.csv"
        return csv_response(ctx.csv_columns(result), ctx.json_rows(result), filename,
                            truncated=result["has_more"])
    links, path = call.links, f"/reports/{name}"
    table = ctx.table(result, links, more=fragment)
    if fragment:
        return render(request, "_report_table.html", {"table": table}, viewer_=call.who)
    keep = [*call.query.params(), *([("search", search)] if search else [])]
    page = _page_context(call, request, path) | {
        "table": table, "search": search,
        "prev_href": links.href(path, keep, offset=max(0, offset - limit)) if offset else None,
        "next_href": links.href(path, keep, offset=offset + limit) if result["has_more"] else None,
        "back_href": links.href(),
        "tabs": ctx.custom_tabs(links, str(result["dimension"])) if "dimension" in result
        else ctx.report_tabs(name, links),
    }
    return render(request, "report.html", page, viewer_=call.who)


async def realtime_page(request: Request) -> Response:
    call = await open_site(request, json_suffix(request))
    if not isinstance(call, Call):
        return call
    try:
        live = await stats(realtime, request.app.state.resources.db, call.site.id, call.now,
                           kept_from=call.query.kept_from)
    except (Unavailable, QueryError) as exc:
        return _failed(request, call, exc)
    if call.fmt != "html":
        return json_response({"site": _head(call)["site"], **live})
    page = _page_context(call, request, "/realtime") | {
        "realtime": {**live, "json_href": f"{call.links.base}/realtime.json"}}
    return render(request, "realtime.html", page, viewer_=call.who)


async def consent_page(request: Request) -> Response:
    call = await open_site(request, json_suffix(request))
    if not isinstance(call, Call):
        return call
    # Consent counts are per decision, with no visitor data to filter by: filters are dropped, and
    # the page's links do not carry them either.
    query = replace(call.query, filters=())
    call = replace(call, query=query, links=ctx.Links("/dashboard", call.site.id, query))
    try:
        result = await stats(consent_stats, request.app.state.resources.db, call.query, call.site)
    except (Unavailable, QueryError) as exc:
        return _failed(request, call, exc)
    if call.fmt != "html":
        return json_response({**_head(call), **result})
    page = _page_context(call, request, "/consent") | {"consent": ctx.consent_context(result)}
    return render(request, "consent.html", page, viewer_=call.who)
