"""The visits log: the latest visits of a range, newest first, each with its actions in order.

Visits are the engine's own (``engine.visit_rows``: per visitor and local day, cut at the timeout and
at ``new_visit``, filtered as every report is), so the log lists exactly the visits the figures count.
Two bounded queries per page:

1. the page of visits, sorted and cut in ClickHouse (``ORDER BY ... LIMIT``): the range's hits are
   grouped there as for the figures, and only ``limit + 1`` rows reach Python;
2. the hits of those visits alone, found by visitor and by their first and last hit (``P`` values).

A visit is named by an opaque id, a keyed hash (HMAC-SHA-256 under a server key handed in) of the
site, the visitor, the visit's first hit and its rank among the visits starting at that instant (a
hit replayed after a crash, stored twice with ``new_visit``, starts two: ``engine.in_visit``). Why
keyed and not salted per request: the same visit keeps its id from page to page and refresh to
refresh (a script paging with ``offset`` while visits arrive can drop the ones it has seen), yet two
visits of one visitor have unrelated ids, and without the key no one can test a guessed visitor id
against an id. Neither ``visitor_id`` nor ``consent_id`` leaves this module.

Time on page is Matomo's: for a page load (a pageview or a site search), the time until the next page
load of the visit; for the last one, until the visit's last hit, as events, downloads, outlinks, goals
and pings all say that the page was still open. ``None`` when nothing came after it: unknown. Pings
lengthen pages but are not listed; goal conversions and content impressions are listed, marked as
hits that are not actions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from gateway.stats.dims import DIMS, FIRST_HIT_DEFAULT, HIT
from gateway.stats.engine import DT, IS_ACTION, P, Params, Span, visit_rows
from gateway.stats.query import StatsQuery

LIMIT, MAX_LIMIT, MAX_OFFSET = 20, 100, 100_000
WINDOWS = (1, 7, 31)  # days, from the range's end: where a page is looked for before the whole range
# What a visit shows besides its actions: where it came from (first-hit dimensions: the visit's first
# hit, when it is not direct), then place and device (hit-level ones: the same on every hit).
ATTRS = ("referrer_type", "source", "utm_campaign", "country", "region", "city", "browser",
         "browser_version", "os", "os_version", "device", "screen", "language")
PAGE_LOADS = ("pageview", "site_search")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_HIT_COLUMNS = ("toString(event_type)", "url_path", "title", "search_keyword", "toString(event_category)",
                "toString(event_action)", "event_name", "link_url", "goal_id", "revenue",
                *(DIMS[k].expr for k in ATTRS))
_DETAIL = 11  # P and the columns above before the visit's attributes


def visit_id(key: bytes, site_id: int, visitor: int, first: int, rank: int = 1) -> str:
    """The opaque id of the ``rank``-th visit of ``visitor`` starting at hit ``first`` (a ``P`` value)."""
    if not key:
        raise ValueError("the visits log needs a server key: an empty one would make its ids guessable")
    suffix = f":{rank}" if rank > 1 else ""  # the first keeps the id it had before ranks were counted
    return hmac.new(key, f"{site_id}:{visitor}:{first}{suffix}".encode(), hashlib.sha256).hexdigest()[:24]


def visit_log(db: Any, q: StatsQuery, key: bytes, *, limit: int = LIMIT, offset: int = 0) -> dict[str, Any]:
    """``{"visits": [...], "limit", "offset", "has_more"}``: the range's visits from ``offset``, newest
    first (by their first hit; ties by an order fixed by the stored hits), at most ``limit``."""
    limit, offset = max(1, min(limit, MAX_LIMIT)), max(0, min(offset, MAX_OFFSET))
    q = replace(q, summary=None)  # the summary holds no hits: the log reads them, a page at a time
    rows = _page(db, q, limit, offset)
    # Past MAX_OFFSET the log ends (a narrower range or a filter reaches further back).
    has_more = len(rows) > limit and offset + limit <= MAX_OFFSET
    rows = rows[:limit]
    hits = _hits(db, q, [(int(r[0]), int(r[1]), int(r[2])) for r in rows])
    zone = ZoneInfo(q.range.tz)
    visits = []
    for row in rows:
        visitor, first, last, rank, same, duration_ms, actions, pageviews = (int(x) for x in row)
        mine = _in_visit(hits.get(visitor, ()), first, last, rank, same)
        visits.append({
            "id": visit_id(key, q.site_id, visitor, first, rank),
            "start": _local(first, zone), "end": _local(last, zone),
            "duration": round(duration_ms / 1000, 3), "actions": actions, "pageviews": pageviews,
            **_attributes(mine), "action_details": _details(mine, zone),
        })
    return {"visits": visits, "limit": limit, "offset": offset, "has_more": has_more}


def _hits(db: Any, q: StatsQuery, visits: Sequence[tuple[int, int, int]]) -> dict[int, list[tuple[Any, ...]]]:
    """The hits of ``visits`` (visitor, first and last ``P``), by visitor, in ``P`` order. The same
    hit-level filters as the visits were cut under; the visits' own spans bound the rest."""
    if not visits:
        return {}
    p = Params()
    lo, hi = min(v[1] for v in visits) // 8, max(v[2] for v in visits) // 8
    start, end = max(_instant(lo), q.kept_from), _instant(hi + 1)
    who, firsts, lasts = ([v[n] for v in visits] for n in range(3))
    ids = "Array(UInt64)"
    parts = [f"site_id = {p.bind(q.site_id, 'UInt32')}", f"ts >= {p.bind(start, DT)}",
             f"ts < {p.bind(end, DT)}", f"visitor_id IN {p.bind(sorted(set(who)), ids)}",
             f"arrayExists((v, a, b) -> v = visitor_id AND h >= a AND h <= b, {p.bind(who, ids)}, "
             f"{p.bind(firsts, ids)}, {p.bind(lasts, ids)})"]
    parts += [q.dim(f.key).equals(p.bind(f.value)) for f in q.filters if q.dim(f.key).level == HIT]
    sql = (f"SELECT visitor_id, {P} AS h, {', '.join(_HIT_COLUMNS)} FROM events "
           f"WHERE {' AND '.join(parts)} ORDER BY visitor_id, h")
    out: dict[int, list[tuple[Any, ...]]] = {}
    for visitor, *hit in db.query(sql, p.values):
        out.setdefault(int(visitor), []).append((int(hit[0]), *hit[1:]))
    return out


def _page(db: Any, q: StatsQuery, limit: int, offset: int) -> list[Any]:
    """The page's visits, newest first, plus one (has it more?). A visit lies within one local day
    (``visits.py``), so the last N days' visits are all newer than any before them: the page is cut
    from the range's last day, then its last week, month, and only then the whole range, stopping at
    the first that holds the page and one more (on 10M events, 90 days: one day's hits rather than a
    quarter's for the first pages)."""
    for days in (*(d for d in WINDOWS if d < q.range.days), q.range.days):
        window = replace(q, range=replace(q.range, start=q.range.end - dt.timedelta(days=days - 1)))
        p = Params()
        # The visits' attributes come with their hits: asked for here, ClickHouse would work them out
        # for every visit of the window before sorting (4x slower on 90 days).
        sql = (f"SELECT visitor_id, v_first, v_last, v_rank, v_same, duration_ms, actions, pageviews "
               f"FROM ({visit_rows(window, p, Span.of(window), ranked=True, keep=('v_rank',))}) "
               f"ORDER BY v_first DESC, visitor_id, v_rank DESC LIMIT {limit + 1} OFFSET {offset}")
        rows = list(db.query(sql, p.values))
        if len(rows) > limit:
            return rows
    return rows


def _in_visit(hits: Sequence[tuple[Any, ...]], first: int, last: int, rank: int,
              same: int) -> list[tuple[Any, ...]]:
    """The visit's hits among its visitor's (in ``P`` order), as ``engine.in_visit`` counts them: every
    hit after its first instant up to its last, and at its first instant only its share of the copies
    (the ``rank``-th to the ``rank + same - 1``-th: the earlier visits starting there hold the rest)."""
    out, copy = [], 0
    for hit in hits:
        if hit[0] == first:
            copy += 1
            if rank <= copy < rank + same:
                out.append(hit)
        elif first < hit[0] <= last:
            out.append(hit)
    return out


def _attributes(hits: Sequence[tuple[Any, ...]]) -> dict[str, str]:
    """A visit's ``ATTRS`` as ``engine.visit_rows`` gives them, read off its first hit."""
    first = hits[0][_DETAIL:] if hits else ("",) * len(ATTRS)
    values = {key: str(value) for key, value in zip(ATTRS, first, strict=True)}
    if values["referrer_type"] in ("direct", ""):  # a later hit of a visit is stored as direct too
        values |= {key: FIRST_HIT_DEFAULT.get(key, "") for key in ATTRS if DIMS[key].first_hit}
    return values


def _instant(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)  # exact: no float between


def _local(packed: int, zone: ZoneInfo) -> str:
    """A ``P`` value's instant in the site's zone, ISO 8601 with its offset, to the second."""
    return _instant(packed // 8).astimezone(zone).isoformat(timespec="seconds")


def _details(hits: Sequence[tuple[Any, ...]], zone: ZoneInfo) -> list[dict[str, Any]]:
    """A visit's hits as its listed actions, in order, pings left out (they only lengthen pages)."""
    ms = [h[0] // 8 for h in hits]
    loads = [i for i, h in enumerate(hits) if h[1] in PAGE_LOADS]
    out = []
    for i, hit in enumerate(hits):
        packed, kind, path, title, keyword, category, action, name, link, goal, revenue = hit[:_DETAIL]
        if kind == "ping":
            continue
        item: dict[str, Any] = {"type": kind, "time": _local(packed, zone),
                                "is_action": bool(packed & IS_ACTION)}
        if kind in PAGE_LOADS:
            following = next((j for j in loads if j > i), None)
            gap = ms[following] - ms[i] if following is not None else ms[-1] - ms[i]
            item["time_on_page"] = round(gap / 1000, 3) if following is not None or gap else None
            item |= {"path": path, "title": title}
            if kind == "site_search":
                item["keyword"] = keyword
        elif kind in ("event", "content"):
            item |= {"category": category, "event_action": action, "name": name}
        elif kind in ("download", "outlink"):
            item["url"] = link
        if kind == "goal":
            item |= {"goal_id": int(goal), "revenue": float(revenue)}
        out.append(item)
    return out
