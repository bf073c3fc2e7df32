"""What seeded data looks like: the figures a marketing user would sanity-check, from SQL.

Visits are cut by the gateway's own VISITS query (``gateway.stats.visits``), so the bounce rate and
pageviews per visit here are the ones the dashboard will compute, not the generator's intentions.
    python -m benchmarks.seed_profile --path /tmp/bench_chdb [--site 1]
"""

from __future__ import annotations

import argparse
from typing import Any

from gateway.stats.visits import DEFAULT_TIMEOUT, VISITS
from gateway.storage.clickhouse import Database, connect

SITE = "site_id = {site:UInt32}"


def shares(db: Database, sql: str, params: dict[str, Any], top: int = 6, total: int = 0) -> str:
    """'a 41.2 %, b 30.1 %, ...' from rows of (label, count), of ``total`` or of their sum."""
    rows = db.query(sql, params)
    total = total or sum(count for _, count in rows) or 1
    return ", ".join(f"{label or '(none)'} {100 * count / total:.1f} %" for label, count in rows[:top])


def profile(db: Database, site_id: int = 1) -> list[tuple[str, str]]:
    """(figure, value) rows over all of the site's data."""
    [(first, last, events, people)] = db.query(
        f"SELECT min(ts), max(ts), count(), uniqExact(visitor_id) FROM events WHERE {SITE}",
        {"site": site_id})
    params = {"site": site_id, "start": first, "end": last, "timeout_ms": DEFAULT_TIMEOUT * 1000}
    [(visits, pageviews, bounces, duration, visits_each)] = db.query(
        f"SELECT count(), sum(pageviews), avg(bounce), avg(duration), count() / uniqExact(visitor_id) "
        f"FROM ({VISITS})", {**params, "end": last.replace(year=last.year + 1)})
    by_type = (f"SELECT toString(event_type) AS t, count() AS c FROM events WHERE {SITE} "
               "GROUP BY t ORDER BY c DESC")
    pages = (f"SELECT url_path, count() AS c FROM events WHERE {SITE} AND event_type = 'pageview' "
             "GROUP BY url_path ORDER BY c DESC")
    per_visitor = (f"SELECT {{col:Identifier}} AS v, uniqExact(visitor_id) AS c FROM events WHERE {SITE} "
                   "GROUP BY v ORDER BY c DESC")
    # Only a visit's first hit has a referrer: the rest of the visits came direct.
    first_hits = (f"SELECT toString(referrer_type) AS v, count() AS c FROM events WHERE {SITE} AND "
                  "referrer_type != 'direct' GROUP BY v ORDER BY c DESC")
    sources = (f"SELECT if(referrer_name = '', referrer_host, referrer_name) AS v, count() AS c FROM events "
               f"WHERE {SITE} AND referrer_type != 'direct' GROUP BY v ORDER BY c DESC")
    hours = (f"SELECT if(toHour(ts, 'Europe/Berlin') BETWEEN 8 AND 21, 'day', 'night') AS v, count() AS c "
             f"FROM events WHERE {SITE} GROUP BY v ORDER BY c DESC")
    consent = ("SELECT toString(action) AS v, count() AS c FROM consent_log WHERE site_id = {site:UInt32} "
               "GROUP BY v ORDER BY c DESC")
    [(distinct_pages,)] = db.query(f"SELECT uniqExact(url_path) FROM events WHERE {SITE}", params)
    return [
        ("range", f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"),
        ("events / visitors / visits", f"{events:,} / {people:,} / {visits:,}"),
        ("visits per visitor", f"{visits_each:.2f}"),
        ("pageviews per visit", f"{pageviews / visits:.2f}"),
        ("bounce rate", f"{100 * bounces:.1f} %"),
        ("average visit duration", f"{duration:.0f} s"),
        ("hits by type", shares(db, by_type, params, 8)),
        ("distinct pages", f"{distinct_pages:,}"),
        ("top pages (pageviews)", shares(db, pages, params)),
        ("visits by referrer type (not direct)", shares(db, first_hits, params, total=visits)),
        ("visits by source", shares(db, sources, params, total=visits)),
        ("devices (visitors)", shares(db, per_visitor, {**params, "col": "device_type"})),
        ("browsers (visitors)", shares(db, per_visitor, {**params, "col": "browser_name"})),
        ("countries (visitors)", shares(db, per_visitor, {**params, "col": "country_code"}, 8)),
        ("cities (visitors)", shares(db, per_visitor, {**params, "col": "city_name"}, 8)),
        ("hits by day (08-22 h Berlin) / night", shares(db, hours, params)),
        ("consent decisions", shares(db, consent, params)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--path", required=True)
    parser.add_argument("--site", type=int, default=1)
    args = parser.parse_args()
    db = connect(f"chdb://{args.path}", create_database=False)
    try:
        for name, value in profile(db, args.site):
            print(f"{name:<34} {value}")
    finally:
        db.close()


if __name__ == "__main__":
    main()
