"""Annotations on a site's chart: listed under the overview's chart, marked on it, and written by forms.

  GET  /dashboard/{site}/annotations.json[?period=..|from=..&to=..]  the site's notes (all, or a range's)
  GET  /dashboard/{site}/annotations       the overview's list of them (a redirect to it, same range)
  POST /dashboard/{site}/annotations       add one: ``date`` (the site's local day), ``note``
  POST /dashboard/{site}/annotations/{id}          edit one: ``date``, ``note``
  POST /dashboard/{site}/annotations/{id}/delete   delete one

Whoever may view a site reads its notes (a share link's reader and the site token too: they are part
of the chart), but only a logged-in dashboard user is told who wrote them (a user name may be an
e-mail address). Adding takes a logged-in dashboard user who may view the site, whatever their role,
since a note is a remark about the traffic, not a setting; editing or deleting one takes its author
or an admin (as in Matomo), so a note never shows a name under words its owner did not write. A
share link or a site token is refused (403), as are another viewer's edit and a form without its CSRF
token (the same signed double submit as the other forms). A form
is answered by a redirect (303) back to the page it came from, a JSON client (``Accept:
application/json``) by the note; bad input is a 400 naming the field, an id of no note of this site a
404. The overview's own part (markers, the data table's notes, the list) is built here too, for
``views.overview``, which hands in the range's notes (``range_notes``: none, rather than no overview,
when they cannot be read).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from gateway.config.sites import Site
from gateway.dashboard.access import Viewer, safe_next, viewer
from gateway.dashboard.auth_views import read_form
from gateway.dashboard.pages import error_page, json_response, redirect, unavailable_page, wanted
from gateway.dashboard.sessions import CSRF_COOKIE, Sessions
from gateway.dashboard.users import User
from gateway.rights.retention import oldest_kept
from gateway.stats import annotations as store
from gateway.stats import custom_dims
from gateway.stats.query import MONTHS, QueryError, parse_query
from gateway.web.unavailable import OUTAGE

log = logging.getLogger(__name__)
T = TypeVar("T")
PATH = "/annotations"
RANGE_KEYS = ("period", "from", "to")
UNAVAILABLE = ("Annotations are unavailable right now (ClickHouse did not answer). Please try again in a "
               "minute.")


class Unavailable(Exception):
    """ClickHouse did not answer."""


def may_change(user: User | None, note: store.Annotation) -> bool:
    """Whether ``user`` may edit or delete ``note``: its author, or an admin (who sees every site)."""
    return user is not None and (user.role == "admin" or (bool(note.author) and user.name == note.author))


async def _run(call: Callable[..., T], *args: Any) -> T:
    """``call`` off the event loop; the store's own errors pass, anything else is a 503."""
    try:
        return await asyncio.to_thread(call, *args)
    except (store.AnnotationError, store.AnnotationNotFound):
        raise
    except OUTAGE as exc:
        raise Unavailable from exc
    except Exception as exc:  # not an outage, and still not a 500: one line naming the type
        log.error("annotations %s failed unexpectedly: %s", getattr(call, "__name__", "?"),
                  type(exc).__name__)
        raise Unavailable from exc


def _day_label(day: dt.date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


async def _open(request: Request, fmt: str, *, write: bool) -> tuple[Site, Viewer] | Response:
    """The site and who asks about it, or the answer that refuses (a writer must be a user)."""
    site: Site | None = request.app.state.sites_by_id.get(request.path_params["site"])
    as_json = fmt != "html"
    who = viewer(request, api=as_json or write)  # a token that writes is told 403, not 401
    if who is None:
        if as_json or write:
            return error_page(request, 401, "authentication required: log in", as_json=as_json)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/dashboard/login?next={quote(target, safe='')}")
    if site is None:
        return error_page(request, 404, "There is no such site.", as_json=as_json, viewer_=who)
    if not who.can_view(site.id):
        return error_page(request, 403, "You do not have access to this site.", as_json=as_json, viewer_=who)
    if write and who.user is None:
        return error_page(request, 403, "Only dashboard users write annotations; a share link or a site "
                          "token reads them.", as_json=as_json, viewer_=who)
    return site, who


async def annotations_page(request: Request) -> Response:
    """The site's notes as JSON (a range's when one is asked for), or the overview's list of them."""
    fmt = wanted(request, "json" if request.url.path.endswith(".json") else None)
    opened = await _open(request, fmt, write=False)
    if not isinstance(opened, tuple):
        return opened
    site, who = opened
    if fmt != "json":
        query = f"?{request.url.query}" if request.url.query else ""
        return redirect(f"/dashboard/{site.id}{query}#annotations", shared=who.share is not None)
    params = request.query_params
    start = end = None
    if any(key in params for key in RANGE_KEYS):
        now: dt.datetime = request.app.state.clock()
        try:
            # Only the range matters; a dashboard URL's filters (custom dimensions too) are read and left.
            q = parse_query(params.multi_items(), site.id, site.timezone,
                            now.astimezone(ZoneInfo(site.timezone)).date(), kept_from=oldest_kept(site, now),
                            custom=custom_dims.dims_of(site))
        except QueryError as exc:
            return error_page(request, 400, str(exc), as_json=True, viewer_=who)
        start, end = q.range.start, q.range.end
    try:
        notes = await _run(store.list_annotations, request.app.state.resources.db, site.id, start, end)
    except Unavailable as exc:
        return unavailable_page(request, "annotations", UNAVAILABLE, as_json=True, viewer_=who, cause=exc)
    return json_response({"site": {"id": site.id, "name": site.name, "timezone": site.timezone},
                          "range": None if start is None else {"start": str(start), "end": str(end)},
                          "annotations": [n.as_json(author=who.user is not None) for n in notes]})


def _back(site: Site, form: Mapping[str, str]) -> str:
    """Where a form returns to: the page it was sent from when that is this site's, at the list."""
    target = safe_next(form.get("next"))
    base = f"/dashboard/{site.id}"
    if target != base and not target.startswith((base + "?", base + "#", base + "/")):
        target = base
    return target if "#" in target else target + "#annotations"


async def _write(request: Request, action: Callable[..., store.Annotation], *args: str,
                 status: int = 200) -> Response:
    """Check the writer and the form, run ``action(db, site_id, *ids, day?, note?, now)``, answer."""
    fmt = wanted(request, None)
    as_json = fmt == "json"
    opened = await _open(request, fmt, write=True)
    if not isinstance(opened, tuple):
        return opened
    site, who = opened
    form = await read_form(request)
    sessions: Sessions = request.app.state.sessions
    if form is None or not sessions.check_csrf(request.cookies.get(CSRF_COOKIE), form.get("csrf")):
        return error_page(request, 403, "The form expired. Reload the page and try again.", as_json=as_json,
                          viewer_=who)
    state = request.app.state
    try:
        ids = [store.parse_id(raw) for raw in args]
        if ids and not may_change(who.user, await _run(store.get, state.resources.db, site.id, *ids)):
            return error_page(request, 403, "Only the note's author or an admin may change it.",
                              as_json=as_json, viewer_=who)
        fields: list[Any] = [] if action is store.delete else [store.parse_day(form.get("date", "")),
                                                               form.get("note", "")]
        if action is store.add:
            fields.append(who.user.name if who.user is not None else "")
        done = await _run(action, state.resources.db, site.id, *ids, *fields, state.clock())
    except store.AnnotationNotFound:
        return error_page(request, 404, "There is no such annotation on this site (it may have been "
                          "deleted).", as_json=as_json, viewer_=who)
    except store.TooManyAnnotations as exc:
        return error_page(request, 409, str(exc), as_json=as_json, viewer_=who)
    except store.AnnotationError as exc:
        return error_page(request, 400, str(exc), as_json=as_json, viewer_=who)
    except Unavailable as exc:
        return unavailable_page(request, "annotations", UNAVAILABLE, as_json=as_json, viewer_=who, cause=exc)
    if as_json:
        if action is store.delete:
            return json_response({"deleted": str(done.id)})
        return json_response({"annotation": done.as_json()}, status)
    return redirect(_back(site, form))


async def create(request: Request) -> Response:
    return await _write(request, store.add, status=201)


async def update(request: Request) -> Response:
    return await _write(request, store.edit, request.path_params["note"])


async def remove(request: Request) -> Response:
    return await _write(request, store.delete, request.path_params["note"])


# -- the overview's part ----------------------------------------------------------------------------

_failing = False  # whether the last range_notes failed: its warning is logged once, not per page


async def range_notes(db: Any, site_id: int, start: dt.date, end: dt.date) -> list[store.Annotation] | None:
    """The range's notes for the overview, or None when they cannot be read: the figures and the chart
    do not depend on them, so their failure (ClickHouse down, the table missing) leaves the overview
    without notes rather than a 503. One warning line (the type, no traceback) when they start failing,
    none more until they have been read again."""
    global _failing
    try:
        notes = await asyncio.to_thread(store.list_annotations, db, site_id, start, end)
    except Exception as exc:
        if not _failing:
            log.warning("annotations could not be read; overviews show none until they can: %s",
                        type(exc).__name__)
        _failing = True
        return None
    _failing = False
    return notes


def chart_marks(series: Mapping[str, Any], notes: Sequence[store.Annotation] | None) -> list[dict[str, Any]]:
    """The chart's markers: a note's bucket index (its day, or its day's first hour), date and text."""
    per = store.by_bucket(notes or (), series["labels"], series["unit"])
    return [{"index": i, "id": str(n.id), "date": n.day.isoformat(), "note": n.note}
            for i, bucket in enumerate(per) for n in bucket]


def rows_with_notes(rows: Sequence[Mapping[str, Any]], series: Mapping[str, Any],
                    notes: Sequence[store.Annotation] | None) -> list[dict[str, Any]]:
    """The chart's data table rows, each with its bucket's notes (the markers' text, for everyone)."""
    per = store.by_bucket(notes or (), series["labels"], series["unit"])
    return [{**row, "notes": [n.note for n in bucket]} for row, bucket in zip(rows, per, strict=True)]


def panel(request: Request, site: Site, who: Viewer, notes: Sequence[store.Annotation] | None,
          now: dt.datetime) -> dict[str, Any]:
    """The list under the chart, with the add form's defaults: today in the site's zone, and this
    page (with its range and filters) to come back to. Authors are named to dashboard users only, and
    each note says whether this one may change it; ``unavailable`` when the notes could not be read."""
    base = f"/dashboard/{site.id}{PATH}"
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    today = now.astimezone(ZoneInfo(site.timezone)).date()
    return {
        "items": [{"id": str(n.id), "date": n.day.isoformat(), "label": _day_label(n.day), "note": n.note,
                   "author": n.author if who.user is not None else None,
                   "created": n.created.isoformat(timespec="seconds"), "can_change": may_change(who.user, n),
                   "edit_href": f"{base}/{n.id}", "delete_href": f"{base}/{n.id}/delete"}
                  for n in notes or ()],
        "unavailable": notes is None, "add_href": base, "json_href": f"{base}.json", "back": back,
        "today": today.isoformat(),
        "max_note": store.MAX_NOTE, "first_day": store.FIRST_DAY.isoformat(),
        "last_day": store.LAST_DAY.isoformat(),
    }
