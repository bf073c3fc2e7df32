"""Realtime: who is on the site now (the last 30 minutes), read straight from recent hits.

Every hit counts towards visitors, pings too: a page kept open is a visitor present. Hits stamped
after ``now`` (a client's clock ahead) are left out, so the numbers never run ahead of the clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

WINDOW_MINUTES = 30
TOP_PAGES = 10
_WHERE = ("site_id = {site:UInt32} AND ts >= {since:DateTime64(3, 'UTC')} "
          "AND ts < {now:DateTime64(3, 'UTC')}")


def realtime(db: Any, site_id: int, now: dt.datetime, *, kept_from: dt.datetime) -> dict[str, Any]:
    """``{"visitors", "pageviews", "since" (ISO UTC), "pages": [{"page", "visitors"}] (top 10),
    "minutes": [30 pageview counts, oldest first]}``. Nothing before ``kept_from`` (the site's
    retention: just after midnight, with one day's retention, the window is shorter)."""
    now = now.astimezone(dt.UTC)
    since = now - dt.timedelta(minutes=WINDOW_MINUTES)
    params = {"site": site_id, "since": max(since, kept_from), "now": now,
              "since_ms": int(since.timestamp() * 1000)}
    visitors, pageviews, per_minute = db.query(
        "SELECT uniq(visitor_id), countIf(event_type = 'pageview'), "
        "sumMapIf([toUInt32(intDiv(toUnixTimestamp64Milli(ts) - {since_ms:Int64}, 60000))], [toUInt64(1)], "
        f"event_type = 'pageview') FROM events WHERE {_WHERE}", params)[0]
    minutes = [0] * WINDOW_MINUTES
    for minute, count in zip(*per_minute, strict=True):
        minutes[min(int(minute), WINDOW_MINUTES - 1)] += int(count)
    pages = db.query(f"SELECT url_path, uniq(visitor_id) AS v FROM events WHERE {_WHERE} AND "
                     "event_type = 'pageview' GROUP BY url_path ORDER BY v DESC, url_path "
                     f"LIMIT {TOP_PAGES}", params)
    return {"visitors": int(visitors), "pageviews": int(pageviews),
            "since": since.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "pages": [{"page": page, "visitors": int(v)} for page, v in pages], "minutes": minutes}
