"""Visits, derived when queried: a visitor's hits, in time order, cut where they pause too long.

Why at query time: any gateway worker or instance may receive any hit, and hits arrive late or out
of order (matomo.js's bulk queue, ``cdt``). A visit id assigned on arrival would depend on which
process saw the visitor's previous hit; cut here, the answer depends only on the stored hits. A new
visit starts at a visitor's first hit in the range, after ``timeout`` seconds without a hit, and
where a hit carries ``new_visit`` (the tracker asked, or a campaign landing).

This is the reference form, readable and used by tests. The dashboards run a faster twin with the
same rules in ``gateway/stats/engine.py`` (hits packed into integers: on 10,000,000 events, 1,000,000
visitors, 90 days, 2 cores, ~0.4 s instead of ~1.3 s); ``tests/stats/test_engine.py`` checks that
both cut the same visits.

Per visit: start, end, duration (every hit counts: a ping is how the tracker says the page is still
open), actions (what Matomo counts: pageviews, site searches, events, downloads, outlinks; not
pings, goal conversions or content impressions, ``engine.ACTION_TYPES``), pageviews, entry and exit
page, bounce (one action). A visit crossing the edge of the range is cut there, as in most analytics
tools, and so is a visit crossing the site's local midnight (``DAY_VISITS``, what the dashboards
count): a day's visits then depend on that day's hits alone, so closed days can be cut once and
stored (``summary.py``) and a range's figures are the sum of its days'. A visit from 23:50 to 00:10
counts as two, one on each day, as in Matomo's and Google Analytics' daily reports. ``VISITS`` cuts
at the range's edges only, for callers that look at one stretch of hits.
"""

from __future__ import annotations

DEFAULT_TIMEOUT = 1800

# The parameters every caller binds: {site:UInt32}, {start:DateTime64(3)}, {end:DateTime64(3)},
# {timeout_ms:UInt64}. Hits are (ms, new_visit, is_pageview, is_action, path) tuples.
VISITS = """
SELECT
    visitor_id,
    cityHash64(visitor_id, visit[1].1) AS visit_id,
    fromUnixTimestamp64Milli(visit[1].1, 'UTC') AS visit_start,
    fromUnixTimestamp64Milli(visit[-1].1, 'UTC') AS visit_end,
    (visit[-1].1 - visit[1].1) / 1000 AS duration,
    arrayCount(h -> h.4, visit) AS actions,
    arrayCount(h -> h.3, visit) AS pageviews,
    arrayFirst(h -> h.3, visit).5 AS entry_page,
    arrayLast(h -> h.3, visit).5 AS exit_page,
    actions <= 1 AS bounce
FROM
(
    SELECT
        visitor_id,
        arraySort(h -> h.1, groupArray((toUnixTimestamp64Milli(ts), new_visit,
                                        event_type = 'pageview',
                                        event_type IN ('pageview', 'site_search', 'event', 'download',
                                                       'outlink'), url_path))) AS hits,
        arraySplit((h, gap) -> gap > {timeout_ms:UInt64} OR h.2 = 1, hits,
                   arrayDifference(arrayMap(h -> h.1, hits))) AS visits
    FROM events
    WHERE site_id = {site:UInt32} AND ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
    GROUP BY visitor_id
)
ARRAY JOIN visits AS visit
WHERE arrayExists(h -> h.4, visit)
"""
# The same, cut at the local midnights of {tz:String} too (bound as well).
DAY_VISITS = VISITS.replace("GROUP BY visitor_id\n", "GROUP BY visitor_id, toDate(ts, {tz:String})\n")
assert DAY_VISITS != VISITS
