"""Building the visit summary (``summary.py``): which days are closed, when a day is (re)built, and
the background task of every gateway process that does it.

A local day is **closed** once 25 hours have passed since its end: hits may come up to 24 hours late
(``cdt`` without a token, ``gateway/ingest/hit.py``), plus an hour for the spool and the writer. Hits
that still reach a closed day (a token-authenticated ``cdt``, a spool replayed after an outage) and
rows that leave it (an erasure, a withdrawal's purge, retention) change its **fingerprint**: the
count of its hits and a sum of their hashes. Each run compares every closed day's fingerprint with
the one its current build was made from, and rebuilds the days that differ, newest first; a day
thus lags such a change until the next run (10 minutes), except for erasures, which delete the
visitor's stored visits at once (``gateway/rights/data.py``).

A build inserts the day's visits under a new ``build`` number, then takes the fingerprint again: only
when nothing changed meanwhile is it registered in ``visit_builds`` (optimistic concurrency: a build
that raced an erasure is never read); otherwise its rows are deleted and the next run tries again.
Every process may build: two builds of one day are the same visits, and readers take the newest
registered. Generations replaced more than an hour ago (a query may still be reading them) and
builds never registered (a process stopped mid-build) are deleted by later runs. One day per
statement: embedded chDB runs one statement at a time, dashboards and inserts included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from gateway.config.sites import Site
from gateway.stats.engine import Params
from gateway.stats.query import CUSTOM, DateRange, StatsQuery
from gateway.stats.summary import FORMULA, Build, build_sql, builds, fingerprints, first_whole_day, midnight

log = logging.getLogger(__name__)
BUILD_EVERY = 600.0  # seconds between runs
CLOSED_AFTER = dt.timedelta(hours=25)  # after a day's end: 24 h of late hits, 1 h for spool and writer
KEEP_REPLACED = dt.timedelta(hours=1)  # a replaced generation stays this long for queries reading it
METRIC = "visit_summary"
Kept = Callable[[Site, dt.datetime], dt.datetime]  # the site's oldest kept instant (rights.retention)


def last_closed(tz: str, now: dt.datetime) -> dt.date:
    """The newest local day closed at ``now``."""
    day = (now - CLOSED_AFTER).astimezone(ZoneInfo(tz)).date()
    closed = midnight(day + dt.timedelta(days=1), tz) + CLOSED_AFTER <= now
    return day if closed else day - dt.timedelta(days=1)


def new_build_id(at: dt.datetime) -> int:
    """A build number: its time in the high bits (a leftover's age), random low bits (two processes)."""
    return (int(at.timestamp() * 1000) << 20) | random.getrandbits(20)


def wall_clock() -> dt.datetime:
    """When a build is made: the real time, also under a pinned dashboard clock (the newest build of
    a day must be the last one made)."""
    return dt.datetime.now(dt.UTC)


def build_day(db: Any, site: Site, day: dt.date, timeout: int) -> Build | None:
    """Build ``day``'s visits and register them; None when the day's hits changed meanwhile."""
    tz = site.timezone
    before = fingerprints(db, site.id, tz, day, day).get(day, (0, 0))
    now = wall_clock()
    build = new_build_id(now)
    q = StatsQuery(site.id, DateRange(day, day, tz, CUSTOM), (), timeout, kept_from=midnight(day, tz))
    p = Params()
    db.command(build_sql(q, p, build, site.retention_days), p.values)
    if fingerprints(db, site.id, tz, day, day).get(day, (0, 0)) != before:
        db.command(f"DELETE FROM {db.mutation_table('visits')} WHERE site_id = {{site:UInt32}} AND day = "
                   "{day:Date} AND build = {build:UInt64}",
                   {"site": site.id, "day": day, "build": build})
        return None
    [(visits,)] = db.query("SELECT count() FROM visits WHERE site_id = {site:UInt32} AND day = {day:Date} "
                           "AND build = {build:UInt64}", {"site": site.id, "day": day, "build": build})
    register(db, site, timeout, [(day, build, before, int(visits))], now)
    return Build(day, build, before[0], before[1], now)


def register(db: Any, site: Site, timeout: int, done: list[tuple[dt.date, int, tuple[int, int], int]],
             now: dt.datetime) -> None:
    """Make these (day, build, fingerprint, visits) the days' current builds."""
    db.insert("visit_builds", [(site.id, day, build, site.timezone, timeout, FORMULA, events, fingerprint,
                                visits, now) for day, build, (events, fingerprint), visits in done],
              ("site_id", "day", "build", "timezone", "timeout", "formula", "events", "fingerprint", "visits",
               "built_at"))


def build_site(db: Any, site: Site, now: dt.datetime, timeout: int, kept: Kept, *,
               days: tuple[dt.date, dt.date] | None = None, force: bool = False,
               stopped: Callable[[], bool] = lambda: False) -> Counter[str]:
    """(Re)build ``site``'s closed days whose hits changed since their build, or every closed day of
    ``days`` with ``force``; then delete leftovers. Counts "built", "raced" (a change meanwhile)."""
    done: Counter[str] = Counter()
    tz = site.timezone
    first, last = first_whole_day(kept(site, now), tz), last_closed(tz, now)
    if days is not None:
        first, last = max(first, days[0]), min(last, days[1])
    if first <= last:
        current, _ = builds(db, site.id, tz, timeout)
        now_prints = fingerprints(db, site.id, tz, first, last)
        empty: list[tuple[dt.date, int, tuple[int, int], int]] = []
        day = last
        while day >= first and not stopped():
            held = current.get(day)
            if force or held is None or (held.events, held.fingerprint) != now_prints.get(day, (0, 0)):
                if day not in now_prints:  # no hit: nothing to cut, registered with the others at once
                    empty.append((day, new_build_id(wall_clock()), (0, 0), 0))
                else:
                    done["built" if build_day(db, site, day, timeout) else "raced"] += 1
            day -= dt.timedelta(days=1)
        if empty:  # a hit landing meanwhile changes the day's fingerprint: the next run builds it
            register(db, site, timeout, empty, wall_clock())
            done["empty"] += len(empty)
    if not stopped():
        done["deleted"] += delete_leftovers(db, site, timeout)
    return done


def delete_leftovers(db: Any, site: Site, timeout: int) -> int:
    """Queue the deletion of generations replaced over an hour ago, of builds made with other settings,
    and of rows of builds never registered; returns how many builds went."""
    current, others = builds(db, site.id, site.timezone, timeout)
    cutoff = wall_clock() - KEEP_REPLACED
    gone = [b.build for b in others
            if b.built_at.replace(tzinfo=dt.UTC) < cutoff
            and (b.day not in current or current[b.day].built_at.replace(tzinfo=dt.UTC) < cutoff)]
    params: dict[str, Any] = {"site": site.id, "gone": gone, "older": new_build_id(cutoff) >> 20 << 20}
    registered = "SELECT build FROM visit_builds WHERE site_id = {site:UInt32}"
    orphans = ("site_id = {site:UInt32} AND build < {older:UInt64} AND build NOT IN (" + registered + ")")
    [(stray,)] = db.query(f"SELECT count() FROM visits WHERE {orphans}", params)
    async_delete = " SETTINGS lightweight_deletes_sync = 0"
    if gone:
        db.command(f"DELETE FROM {db.mutation_table('visits')} WHERE site_id = {{site:UInt32}} AND build IN "
                   "{gone:Array(UInt64)}" + async_delete, params)
        db.command(f"DELETE FROM {db.mutation_table('visit_builds')} WHERE site_id = {{site:UInt32}} AND "
                   "build IN {gone:Array(UInt64)}" + async_delete, params)
    if stray:
        db.command(f"DELETE FROM {db.mutation_table('visits')} WHERE {orphans}{async_delete}", params)
    return len(gone)


def build_all(db: Any, sites: Sequence[Site], now: dt.datetime, timeout: int, kept: Kept, *,
              stopped: Callable[[], bool] = lambda: False) -> Counter[str]:
    """One run over every site. Never raises for ClickHouse's sake: a failed site is logged, counted
    ("failed") and tried again next run."""
    done: Counter[str] = Counter()
    for site in sites:
        if stopped():
            break
        try:
            done += build_site(db, site, now, timeout, kept, stopped=stopped)
        except Exception as exc:  # ClickHouse down, a grant missing: the next run tries again
            done["failed"] += 1
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            log.error("visit summary: site %d failed: %s: %s", site.id, type(exc).__name__, first)
    return done


class SummaryBuilder:
    """The background task of one process: a run at start, then every ``every`` seconds."""

    def __init__(self, db: Any, sites: Sequence[Site], clock: Callable[[], dt.datetime], timeout: int,
                 kept: Kept, count: Callable[[str, str, int], None], every: float = BUILD_EVERY) -> None:
        self._db, self._sites, self._clock, self._timeout = db, sites, clock, timeout
        self._kept, self._count, self._every = kept, count, every
        self._stopping = threading.Event()  # read by the run's thread between days
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="visit-summary-builder")

    async def stop(self) -> None:
        """Cancel the task; a statement already sent ends on its own (an unregistered build is a
        leftover a later run deletes)."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                done = await asyncio.to_thread(build_all, self._db, self._sites, self._clock(), self._timeout,
                                               self._kept, stopped=self._stopping.is_set)
            except Exception as exc:  # build_all catches its own; this keeps the task alive regardless
                log.error("visit summary failed: %s: %s", type(exc).__name__, exc)
                done = Counter(failed=1)
            self._count(METRIC, "runs", 1)
            for name, n in done.items():
                if n:
                    self._count(METRIC, name, n)
            self.runs += 1
            await asyncio.sleep(self._every)
