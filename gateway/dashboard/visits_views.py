"""The visits log page, ``/dashboard/SITE/visits``, and its JSON twin ``visits.json``.

The latest visits of the range and filters, newest first, a page at a time (``limit``, ``offset``),
each with its actions (``gateway.stats.visit_log``). The JSON keeps the machine values of the stats
layer and adds ``labels`` (the names the page shows: "Direct / none", "Germany"). A visit is named
only by its opaque id, a keyed hash under a key derived here from the gateway's first signing key
for this one purpose, so it is stable between pages and requests and unrelated to any other use of
that key; the visitor and consent ids never reach this module.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.config.settings import Settings
from gateway.dashboard import context as ctx
from gateway.dashboard.pages import error_page, json_response, json_suffix, render
from gateway.dashboard.views import (  # the pipeline every stats page shares
    Call,
    Unavailable,
    _failed,
    _head,
    _int_param,
    _page_context,
    open_site,
    stats,
)
from gateway.stats.query import QueryError
from gateway.stats.visit_log import LIMIT, MAX_LIMIT, MAX_OFFSET, visit_log

PATH = "/visits"
KIND_LABELS = {"pageview": "Page", "site_search": "Site search", "event": "Event", "download": "Download",
               "outlink": "Outlink", "goal": "Goal", "content": "Content"}


def visit_key(settings: Settings) -> bytes:
    """The visits log's own key: derived, so no id made with it can be checked against a session."""
    if not settings.secret_keys:  # settings always hold one (given, or generated and kept): never guess
        raise RuntimeError("the visits log needs a secret key for its visit ids")
    secret = settings.secret_keys[0].encode()
    return hmac.new(secret, b"consent-gateway visits log ids", hashlib.sha256).digest()


def labels(visit: dict[str, Any]) -> dict[str, str]:
    """A visit's names as the page shows them (the JSON keeps the values beside them)."""
    return {key: ctx.dim_display(key, visit[key]) for key in ("referrer_type", "source", "country")}


def _place(visit: dict[str, Any], names: dict[str, str]) -> str:
    parts = [visit["city"], visit["region"]] if visit["city"] != visit["region"] else [visit["city"]]
    return ", ".join([p for p in parts if p] + [names["country"]])


def _step(detail: dict[str, Any]) -> dict[str, Any]:
    kind = detail["type"]
    if kind in ("pageview", "site_search"):
        text = detail["keyword"] if kind == "site_search" else (detail["title"] or detail["path"])
        note = detail["path"] if kind == "pageview" and detail["title"] else ""
    elif kind in ("event", "content"):
        text = " / ".join(x for x in (detail["category"], detail["event_action"], detail["name"]) if x)
        note = ""
    elif kind == "goal":
        text, note = f"Goal {detail['goal_id']}", ctx.number(detail["revenue"]) if detail["revenue"] else ""
    else:
        text, note = detail.get("url", ""), ""
    spent = detail.get("time_on_page")
    return {"kind": kind, "label": KIND_LABELS.get(kind, kind), "text": text or ctx.UNKNOWN, "note": note,
            "time": detail["time"][11:19], "spent": None if spent is None else ctx.duration(spent),
            "action": detail["is_action"]}


def _card(visit: dict[str, Any]) -> dict[str, Any]:
    names = labels(visit)
    device = " · ".join(x for x in (visit["device"], visit["browser"], visit["os"]) if x)
    return {"id": visit["id"], "date": visit["start"][:10], "time": visit["start"][11:19],
            "datetime": visit["start"], "duration": ctx.duration(visit["duration"]),
            "actions": visit["actions"], "pageviews": visit["pageviews"],
            "channel": names["referrer_type"] if visit["referrer_type"] != "direct" else "",
            "source": names["source"],
            "campaign": visit["utm_campaign"], "place": _place(visit, names), "device": device or ctx.UNKNOWN,
            "language": visit["language"], "steps": [_step(d) for d in visit["action_details"]]}


async def visits_page(request: Request) -> Response:
    call = await open_site(request, json_suffix(request))
    if not isinstance(call, Call):
        return call
    if call.who.share is not None:  # a share link shows aggregates; a visit's pages, place and device
        # at the second can single a person out: only the site's users (and its token) see them
        return error_page(request, 403, "A share link shows the reports, not single visits: log in to see "
                          "the visits log.", as_json=call.fmt != "html", viewer_=call.who)
    try:
        limit = _int_param(request, "limit", LIMIT, 1, MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0, MAX_OFFSET)
    except QueryError as exc:
        return error_page(request, 400, str(exc), as_json=call.fmt != "html", viewer_=call.who)
    key = visit_key(request.app.state.settings)
    try:
        result = await stats(visit_log, request.app.state.resources.db, call.query, key, limit=limit,
                             offset=offset)
    except (Unavailable, QueryError) as exc:
        return _failed(request, call, exc)
    if call.fmt != "html":
        visits = [{**v, "labels": labels(v)} for v in result["visits"]]
        return json_response({**_head(call), **result, "visits": visits})
    links = call.links
    keep = [*call.query.params(), *([("limit", str(limit))] if limit != LIMIT else [])]
    page = _page_context(call, request, PATH) | {
        "visits": [_card(v) for v in result["visits"]], "offset": offset,
        "prev_href": links.href(PATH, keep, offset=max(0, offset - limit)) if offset else None,
        "next_href": links.href(PATH, keep, offset=offset + limit) if result["has_more"] else None,
        "back_href": links.href(), "json_href": links.href(PATH + ".json", keep, offset=offset),
    }
    return render(request, "visits.html", page, viewer_=call.who)
