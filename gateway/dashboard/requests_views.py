"""The admins' "Data requests" page: look a visitor's consent id up, export or erase their data.

  GET  /dashboard/{site}/requests[?consent=ID]  (and ``.json``) the lookup form; for an id, its
       decisions and stored events; then the site's last 100 data requests from the audit trail
  POST /dashboard/{site}/requests/export  the visitor-data document as a download
  POST /dashboard/{site}/requests/erase   without ``confirm=yes``: a page saying what will happen, with
       the button that confirms; with it: the erasure, then back to the lookup, which shows its record

Admins only (a viewer, a share link or the site token is refused: the token has its own
``/api/consents/ID/data``). Exports and erasures go through ``gateway.rights``, the same path the
visitor's, the token's and the CLI's take, and land in its audit trail as ``requested_by=dashboard``
with the admin's name. A lookup reads and changes nothing, so it is not recorded. Plain forms with
CSRF tokens: every step works without JavaScript.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.config.settings import Settings
from gateway.config.sites import Site
from gateway.consent.proof import proof
from gateway.dashboard.access import Viewer, viewer
from gateway.dashboard.auth_views import read_form
from gateway.dashboard.pages import (
    error_page,
    json_response,
    json_suffix,
    redirect,
    render,
    unavailable_page,
    wanted,
)
from gateway.dashboard.security import security_headers
from gateway.dashboard.sessions import CSRF_COOKIE, Sessions
from gateway.rights import audit
from gateway.rights.data import count_events
from gateway.rights.service import Rights, Unavailable
from gateway.web.unavailable import OUTAGE

log = logging.getLogger(__name__)
T = TypeVar("T")
AUDIT_ROWS = 100
MAX_ID = 100
ACTIONS = {"grant": "Granted", "refuse": "Refused", "update": "Updated", "withdraw": "Withdrawn",
           "erase": "Erased (a refusal)"}
SOURCES = {"banner": "Banner", "gpc": "Global Privacy Control", "api": "API", "regime": "Regional default",
           "dnt": "Do Not Track"}
REQUESTERS = {"visitor": "The visitor", "site-token": "Site token", "cli": "Command line",
              "dashboard": "Dashboard"}
UNAVAILABLE = ("Data requests are unavailable right now (ClickHouse did not answer). Please try again in a "
               "minute; an erasure that was cut short is safe to repeat.")
WHAT = "data requests page"


@dataclass(frozen=True, slots=True)
class Admin:
    site: Site
    who: Viewer
    name: str
    fmt: str


async def _admin(request: Request, fmt: str) -> Admin | Response:
    """The logged-in admin asking about this site, or the response that refuses."""
    state = request.app.state
    site: Site | None = state.sites_by_id.get(request.path_params["site"])
    who = viewer(request, api=fmt == "json")
    as_json = fmt == "json"
    if who is None:
        if as_json or request.method == "POST":
            return error_page(request, 401, "authentication required: log in as an admin", as_json=as_json)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/dashboard/login?next={quote(target, safe='')}")
    if site is None:
        return error_page(request, 404, "There is no such site.", as_json=as_json, viewer_=who)
    if not who.can_view(site.id):
        return error_page(request, 403, "You do not have access to this site.", as_json=as_json, viewer_=who)
    if who.user is None or who.user.role != "admin":
        message = "Only administrators handle data requests."
        if who.token_sites:
            message += " With the site token, use /api/consents/ID/data."
        return error_page(request, 403, message, as_json=as_json, viewer_=who)
    return Admin(site, who, who.user.name, fmt)


def parse_id(raw: str) -> tuple[uuid.UUID | None, str | None]:
    """A consent id as typed (spaces, capitals, braces are fine), or why it is not one."""
    text = raw.strip()
    if not text:
        return None, None
    try:
        return uuid.UUID(text[:MAX_ID]), None
    except ValueError:
        return None, (f"“{text[:40]}” is not a consent id. It looks like "
                      "8b1f0c2e-3a4d-4e5f-9a6b-7c8d9e0f1a2b and is on the visitor's consent receipt.")


async def _blocking(call: Callable[..., T], *args: Any) -> T:
    try:
        return await asyncio.to_thread(call, *args)
    except OUTAGE as exc:  # down, unreachable or slow: the page answers 503 (and logs it)
        raise Unavailable(type(exc).__name__) from exc
    except Exception as exc:  # a failure no check foresaw: a 503 too, and one line naming its type
        log.error("data request lookup %s failed unexpectedly: %s", getattr(call, "__name__", "?"),
                  type(exc).__name__)
        raise Unavailable(type(exc).__name__) from exc


async def lookup(rights: Rights, site: Site, raw: str) -> dict[str, Any] | None:
    """What is stored under the id typed in: its decisions and event count, or a message saying why
    there is nothing to show. None when no id was asked for."""
    consent_id, problem = parse_id(raw)
    if consent_id is None:
        return None if problem is None else {"consent_id": raw.strip()[:MAX_ID], "found": False,
                                             "message": problem}
    if not await rights.known(site, consent_id):
        return {"consent_id": str(consent_id), "found": False,
                "message": f"Nothing is recorded under {consent_id} for this site: no decision, no event. "
                           "Check the id, and that the receipt is from this site."}
    history, events = await asyncio.gather(_blocking(proof, rights.db, site, consent_id),
                                           _blocking(count_events, rights.db, site, [consent_id]))
    return {"consent_id": str(consent_id), "found": True, "message": None,
            "current_policy_version": history["current_policy_version"],
            "decisions": history["decisions"], "event_count": events}


def _decision_rows(decisions: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"time": f"{d['time'][:19]} UTC", "action": ACTIONS.get(d["action"], d["action"]),
             "categories": ", ".join(d["categories"]) or "none",
             "policy": d["policy_version"] + (" (current)" if d.get("policy_current") else ""),
             "source": SOURCES.get(d["source"], d["source"])} for d in decisions]


def _audit_rows(entries: list[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    rows = []
    for e in entries:
        who = REQUESTERS.get(e["requested_by"], e["requested_by"])
        rows.append({"time": f"{e['time'][:19]} UTC", "kind": "Erasure" if e["kind"] == "erase" else "Export",
                     "who": f"{who} ({e['operator']})" if e["operator"] else who,
                     "subject": e["consent_id"] or "by the site's user id",
                     "href": f"{base}?{urlencode({'consent': e['consent_id']})}" if e["consent_id"] else None,
                     "events": e["events"], "decisions": e["decisions"]})
    return rows


async def _erased(rights: Rights, site: Site, found: dict[str, Any] | None) -> dict[str, Any] | None:
    """The audit record of the erasure just made, to say what it did: read from the trail, so a
    crafted link cannot make the page claim an erasure that did not happen."""
    if found is None or not found["found"]:
        return None
    newest = await rights.log(site.id, uuid.UUID(found["consent_id"]), limit=1)
    if not newest or newest[0]["kind"] != "erase" or newest[0]["requested_by"] != "dashboard":
        return None
    return {"events": newest[0]["events"], "operator": newest[0]["operator"],
            "time": f"{newest[0]['time'][:19]} UTC"}


async def _page(request: Request, admin: Admin, raw: str, *, status: int = 200) -> Response:
    """The page (or its JSON twin) for the id ``raw`` (may be empty)."""
    state = request.app.state
    rights: Rights = state.rights
    site, base = admin.site, f"/dashboard/{admin.site.id}"
    found = await lookup(rights, site, raw)
    entries = await rights.log(site.id, limit=AUDIT_ROWS)
    if admin.fmt == "json":
        return json_response({"site": {"id": site.id, "name": site.name}, "lookup": found,
                              "requests": entries}, status)
    settings: Settings = state.settings
    if found is not None and found["found"]:
        found = {**found, "rows": _decision_rows(found["decisions"])}
    page = {
        "site": {"id": site.id, "name": site.name, "href": base},
        "sites": [{"id": s.id, "name": s.name, "href": f"/dashboard/{s.id}"}
                  for s in admin.who.visible(settings.sites)],
        "query": raw.strip()[:MAX_ID], "lookup": found,
        "erased": await _erased(rights, site, found) if request.query_params.get("done") == "erase" else None,
        "requests": _audit_rows(entries, f"{base}/requests"),
        "links": {"page": f"{base}/requests", "export": f"{base}/requests/export",
                  "erase": f"{base}/requests/erase", "json": f"{base}/requests.json"},
    }
    return render(request, "requests.html", page, status=status, viewer_=admin.who)


async def requests_page(request: Request) -> Response:
    admin = await _admin(request, wanted(request, json_suffix(request)))
    if not isinstance(admin, Admin):
        return admin
    try:
        return await _page(request, admin, request.query_params.get("consent", ""))
    except Unavailable as exc:
        return unavailable_page(request, WHAT, UNAVAILABLE, as_json=admin.fmt == "json", viewer_=admin.who,
                                cause=exc)


async def _posted(request: Request) -> tuple[Admin, dict[str, str], uuid.UUID] | Response:
    """A checked form about one known consent id, or the answer that ends the request there."""
    admin = await _admin(request, wanted(request, None))
    if not isinstance(admin, Admin):
        return admin
    as_json = admin.fmt == "json"
    form = await read_form(request)
    sessions: Sessions = request.app.state.sessions
    if form is None or not sessions.check_csrf(request.cookies.get(CSRF_COOKIE), form.get("csrf")):
        return error_page(request, 403, "The form expired. Reload the page and try again.", as_json=as_json,
                          viewer_=admin.who)
    raw = form.get("consent", "")
    consent_id, _ = parse_id(raw)
    if consent_id is None or not await request.app.state.rights.known(admin.site, consent_id):
        return await _page(request, admin, raw, status=400 if consent_id is None else 404)
    return admin, form, consent_id


async def export(request: Request) -> Response:
    try:
        posted = await _posted(request)
        if not isinstance(posted, tuple):
            return posted
        admin, _, consent_id = posted
        rights: Rights = request.app.state.rights
        site, now = admin.site, request.app.state.clock().timestamp()
        document = await rights.export(site, [consent_id], audit.Request(
            site.id, "export", consent_id, "dashboard", operator=admin.name), now)
        name = f"consent-data-{site.id}-{consent_id}.json"
        return security_headers(JSONResponse(document, headers={
            "Content-Disposition": f'attachment; filename="{name}"'}))
    except Unavailable as exc:
        return unavailable_page(request, WHAT, UNAVAILABLE, as_json=wanted(request, None) == "json",
                                cause=exc)


async def erase(request: Request) -> Response:
    try:
        posted = await _posted(request)
        if not isinstance(posted, tuple):
            return posted
        admin, form, consent_id = posted
        rights: Rights = request.app.state.rights
        site, base = admin.site, f"/dashboard/{admin.site.id}/requests"
        if form.get("confirm") != "yes":
            if admin.fmt == "json":
                return json_response({"error": "send confirm=yes to erase"}, 400)
            found = await lookup(rights, site, str(consent_id))
            return render(request, "requests_confirm.html", {
                "site": {"id": site.id, "name": site.name, "href": f"/dashboard/{site.id}"},
                "lookup": found, "links": {"erase": f"{base}/erase",
                                           "cancel": f"{base}?{urlencode({'consent': str(consent_id)})}"},
            }, viewer_=admin.who)
        now = request.app.state.clock().timestamp()
        refusal = await rights.refusal(site, consent_id, now, source="api")
        erased = await rights.erase(site, [refusal], audit.Request(
            site.id, "erase", consent_id, "dashboard", operator=admin.name), now)
    except Unavailable as exc:
        return unavailable_page(request, WHAT, UNAVAILABLE, as_json=wanted(request, None) == "json",
                                cause=exc)
    if admin.fmt == "json":
        return json_response({"erased": erased, "consent_id": str(consent_id)})
    return redirect(f"{base}?{urlencode({'consent': str(consent_id), 'done': 'erase'})}")
