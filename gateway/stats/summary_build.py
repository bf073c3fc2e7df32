"""Building the visit summary (``summary.py``): which days are closed, when a day is (re)built, and
the background task of every gateway process that does it.

A local day is **closed** once 25 hours have passed since its end: hits may come up to 24 hours late
(``cdt`` without a token, ``gateway/ingest/hit.py``), plus an hour for the spool and the writer. Hits
that still reach a closed day (a token-authenticated ``cdt``, a spool replayed after an outage) and
rows that leave it (an erasure, a withdrawal's purge, retention) change its **fingerprint**: the
count of its hits and a sum of their hashes. Each run compares every closed day's fingerprint with
the one its current build was made from, and rebuilds the days that differ, newest first; a day
thus lags such a change until the next run (about 10 minutes), except for the visits an erasure or
a withdrawal takes out whole, which its purge deletes at once (``gateway/rights/data.py``, ``sync.py``).

A build inserts the day's visits under a new ``build`` number, then takes the fingerprint again: only
when nothing changed meanwhile is it registered in ``visit_builds`` (optimistic concurrency: a build
that raced an erasure is never read); otherwise its rows are deleted and the next run tries again.
Every process may build: two builds of one day are the same visits, and readers take the newest
registered. Generations replaced more than an hour ago (a query may still be reading them) are
deleted by later runs, and so are the rows of builds never registered (a process stopped mid-build),
once a day old and older than a registered build of their day: another process may still be making
and registering one, and such a build, registered late, is never the one read. A day whose build
fails (a query too big, say) is logged and counted, the other days go on, and this process tries it
again an hour later, not at every run; ClickHouse gone, or three days failing in a row, end the
site's run instead (the cause is not the day). One day per statement: embedded chDB runs one statement at a
time, dashboards and inserts included. Runs are 10 minutes apart, give or take 10 % (processes
started together drift apart); a stopping process sends no statement after the one under way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from gateway.config.sites import Site
from gateway.stats.engine import Params
from gateway.stats.query import CUSTOM, DateRange, StatsQuery
from gateway.stats.summary import FORMULA, Build, build_sql, builds, fingerprints, first_whole_day, midnight
from gateway.storage.periodic import Guarded, Periodic, first_line

log = logging.getLogger(__name__)
BUILD_EVERY = 600.0  # seconds between runs
JITTER = 0.1  # of BUILD_EVERY, either way
CLOSED_AFTER = dt.timedelta(hours=25)  # after a day's end: 24 h of late hits, 1 h for spool and writer
KEEP_REPLACED = dt.timedelta(hours=1)  # a replaced generation stays this long for queries reading it
KEEP_UNREGISTERED = dt.timedelta(days=1)  # a build not registered yet may still be under way that long
# An unregistered build this old is no build under way: its rows go, even newer than every registered
# one (a rebuild stopped before registering; a registration that failed, whose rows are not dropped at
# once: an insert that failed for the client may have landed, and dropping would empty the day).
ABANDONED = dt.timedelta(days=7)
RETRY_FAILED = 3600.0  # seconds before a process builds again a day whose build failed
# Days failing in a row are no longer the days' fault (a grant missing, a server refusing inserts): the
# site's run ends there, its older days wait for the next run (past the failed ones, held back).
FAILING_IN_A_ROW = 3
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


class Failures:
    """The days whose build failed lately, remembered by one process: built again ``retry_after``
    seconds later, not at every run, so a day that always fails costs one failed statement an hour."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 retry_after: float = RETRY_FAILED) -> None:
        self._clock, self.retry_after = clock, retry_after
        self._at: dict[tuple[int, dt.date], float] = {}

    def waiting(self, site: Site, day: dt.date) -> bool:
        at = self._at.get((site.id, day))
        return at is not None and self._clock() - at < self.retry_after

    def failed(self, site: Site, day: dt.date) -> None:
        self._at[(site.id, day)] = self._clock()

    def passed(self, site: Site, day: dt.date) -> None:
        self._at.pop((site.id, day), None)


def build_day(db: Any, site: Site, day: dt.date, timeout: int) -> Build | None:
    """Build ``day``'s visits and register them; None when the day's hits changed meanwhile."""
    tz = site.timezone
    before = fingerprints(db, site.id, tz, day, day).get(day, (0, 0))
    now = wall_clock()
    build = new_build_id(now)
    q = StatsQuery(site.id, DateRange(day, day, tz, CUSTOM), (), timeout, kept_from=midnight(day, tz))
    p = Params()
    try:
        db.command(build_sql(q, p, build, site.retention_days), p.values)
    except Exception:
        # An insert that failed part-way may have stored blocks: they go now, not a day later as an
        # unregistered build's (best effort: the database may be what failed).
        with contextlib.suppress(Exception):  # the insert's error is the one worth raising
            _drop(db, site, day, build)
        raise
    if fingerprints(db, site.id, tz, day, day).get(day, (0, 0)) != before:
        _drop(db, site, day, build)
        return None
    [(visits,)] = db.query("SELECT count() FROM visits WHERE site_id = {site:UInt32} AND day = {day:Date} "
                           "AND build = {build:UInt64}", {"site": site.id, "day": day, "build": build})
    register(db, site, timeout, [(day, build, before, int(visits))], now)
    return Build(day, build, before[0], before[1], now)


def _drop(db: Any, site: Site, day: dt.date, build: int) -> None:
    db.command(f"DELETE FROM {db.mutation_table('visits')} WHERE site_id = {{site:UInt32}} AND day = "
               "{day:Date} AND build = {build:UInt64}", {"site": site.id, "day": day, "build": build})


def register(db: Any, site: Site, timeout: int, done: list[tuple[dt.date, int, tuple[int, int], int]],
             now: dt.datetime) -> None:
    """Make these (day, build, fingerprint, visits) the days' current builds."""
    db.insert("visit_builds", [(site.id, day, build, site.timezone, timeout, FORMULA, events, fingerprint,
                                visits, now) for day, build, (events, fingerprint), visits in done],
              ("site_id", "day", "build", "timezone", "timeout", "formula", "events", "fingerprint", "visits",
               "built_at"))


def build_site(db: Any, site: Site, now: dt.datetime, timeout: int, kept: Kept, *,
               days: tuple[dt.date, dt.date] | None = None, force: bool = False,
               stopped: Callable[[], bool] = lambda: False, failures: Failures | None = None) -> Counter[str]:
    """(Re)build ``site``'s closed days whose hits changed since their build, or every closed day of
    ``days`` with ``force``; then delete leftovers. Counts "built", "raced" (a change meanwhile).

    With ``failures`` (the background builder), a day whose build fails is logged and counted
    ("failed"), the older days go on, and it waits there before it is tried again; without (a rebuild
    the operator asked for), the failure is raised."""
    done: Counter[str] = Counter()
    tz = site.timezone
    first, last = first_whole_day(kept(site, now), tz), last_closed(tz, now)
    if days is not None:
        first, last = max(first, days[0]), min(last, days[1])
    if first <= last:
        current, _ = builds(db, site.id, tz, timeout)
        now_prints = fingerprints(db, site.id, tz, first, last)
        empty: list[tuple[dt.date, int, tuple[int, int], int]] = []
        day, in_a_row = last, 0
        while day >= first and not stopped():
            held = current.get(day)
            if force or held is None or (held.events, held.fingerprint) != now_prints.get(day, (0, 0)):
                if day not in now_prints:  # no hit: nothing to cut, registered with the others at once
                    empty.append((day, new_build_id(wall_clock()), (0, 0), 0))
                elif failures is None:
                    done["built" if build_day(db, site, day, timeout) else "raced"] += 1
                elif not failures.waiting(site, day):
                    outcome = _build_or_note(db, site, day, timeout, failures, stopped)
                    done[outcome] += 1
                    in_a_row = in_a_row + 1 if outcome == "failed" else 0
                    if in_a_row == FAILING_IN_A_ROW:
                        log.error("visit summary: site %d: %d days failed in a row, the older ones wait for "
                                  "the next run", site.id, in_a_row)
                        break
            day -= dt.timedelta(days=1)
        if empty:  # a hit landing meanwhile changes the day's fingerprint: the next run builds it
            register(db, site, timeout, empty, wall_clock())
            done["empty"] += len(empty)
    if not stopped():
        done["deleted"] += delete_leftovers(db, site, timeout)
    return done


def _build_or_note(db: Any, site: Site, day: dt.date, timeout: int, failures: Failures,
                   stopped: Callable[[], bool]) -> str:
    """Build one day; a failure is logged, remembered and returned as "failed". Raised when it is not
    the day's: the stop's doing, or ClickHouse gone (the site's run ends, no day is held back)."""
    try:
        built = build_day(db, site, day, timeout)
    except Exception as exc:
        if stopped() or not _answers(db):
            raise
        failures.failed(site, day)
        log.error("visit summary: site %d, day %s failed (tried again in %.0f min): %s: %s", site.id, day,
                  failures.retry_after / 60, type(exc).__name__, first_line(exc))
        return "failed"
    failures.passed(site, day)
    return "built" if built else "raced"


def _answers(db: Any) -> bool:
    try:
        db.query("SELECT 1")
    except Exception:
        return False
    return True


def delete_leftovers(db: Any, site: Site, timeout: int) -> int:
    """Queue the deletion of generations replaced over an hour ago, of builds made with other settings
    (but a newer formula's: while an upgrade rolls out, the processes of both versions would delete each
    other's builds and rebuild every day, over and over), and of the rows of builds never registered,
    once a day old and older than a registered build of their day, or a week old whatever; returns how
    many builds went."""
    current, others = builds(db, site.id, site.timezone, timeout)
    now = wall_clock()
    cutoff = now - KEEP_REPLACED
    gone = [b.build for b in others
            if b.built_at.replace(tzinfo=dt.UTC) < cutoff and b.formula <= FORMULA
            and (b.day not in current or current[b.day].built_at.replace(tzinfo=dt.UTC) < cutoff)]
    registered = [*current.values(), *others]
    newest: dict[dt.date, int] = {}
    for b in registered:
        newest[b.day] = max(newest.get(b.day, 0), b.build)
    older = new_build_id(now - KEEP_UNREGISTERED) >> 20 << 20
    abandoned = new_build_id(now - ABANDONED) >> 20 << 20
    params: dict[str, Any] = {"site": site.id, "gone": gone, "older": older,
                              "registered": sorted({b.build for b in registered})}
    # Listed by number, not by a subquery at delete time: a build registered meanwhile is older than
    # the registered one of its day all the same, and never read.
    unregistered = db.query("SELECT day, build FROM visits WHERE site_id = {site:UInt32} AND build < "
                            "{older:UInt64} AND build NOT IN {registered:Array(UInt64)} GROUP BY day, build",
                            params)
    params["stray"] = stray = sorted({int(b) for day, b in unregistered
                                      if int(b) < newest.get(day, 0) or int(b) < abandoned})
    async_delete = " SETTINGS lightweight_deletes_sync = 0"
    if gone:
        db.command(f"DELETE FROM {db.mutation_table('visits')} WHERE site_id = {{site:UInt32}} AND build IN "
                   "{gone:Array(UInt64)}" + async_delete, params)
        db.command(f"DELETE FROM {db.mutation_table('visit_builds')} WHERE site_id = {{site:UInt32}} AND "
                   "build IN {gone:Array(UInt64)}" + async_delete, params)
    if stray:
        db.command(f"DELETE FROM {db.mutation_table('visits')} WHERE site_id = {{site:UInt32}} AND build IN "
                   "{stray:Array(UInt64)}" + async_delete, params)
    return len(gone) + len(stray)


def build_all(db: Any, sites: Sequence[Site], now: dt.datetime, timeout: int, kept: Kept, *,
              stopped: Callable[[], bool] = lambda: False, failures: Failures | None = None) -> Counter[str]:
    """One run over every site. Never raises for ClickHouse's sake: a failed day or site is logged,
    counted ("failed") and tried again later (a day: after ``RETRY_FAILED`` in ``failures``). Once
    ``stopped``, no statement is sent and nothing fails."""
    done: Counter[str] = Counter()
    guarded, failures = Guarded(db, stopped), failures if failures is not None else Failures()
    for site in sites:
        if stopped():
            break
        try:
            done += build_site(guarded, site, now, timeout, kept, stopped=stopped, failures=failures)
        except Exception as exc:  # ClickHouse down, a grant missing: the next run tries again
            if stopped():  # a statement refused or cut off by the stop
                break
            done["failed"] += 1
            log.error("visit summary: site %d failed: %s: %s", site.id, type(exc).__name__, first_line(exc))
    return done


class SummaryBuilder:
    """The background task of one process: a run at start, then every ``every`` seconds, ± ``JITTER``
    (``gateway.storage.periodic``)."""

    def __init__(self, db: Any, sites: Sequence[Site], clock: Callable[[], dt.datetime], timeout: int,
                 kept: Kept, count: Callable[[str, str, int], None], every: float = BUILD_EVERY) -> None:
        self._count = count
        failures = Failures()  # kept from run to run
        self._periodic = Periodic(
            "visit-summary-builder",
            lambda stopped: build_all(db, sites, clock(), timeout, kept, stopped=stopped, failures=failures),
            self._counted, self._failed, every, jitter=JITTER)

    @property
    def runs(self) -> int:
        return self._periodic.runs

    def pause(self) -> float:
        """Seconds from one run's end to the next."""
        return self._periodic.pause()

    def start(self) -> None:
        self._periodic.start()

    async def stop(self, budget: float | None = None) -> None:
        """Stop after the statement under way (waited for a few seconds, within the shutdown's
        ``budget``): the app closes the database next. An unregistered build is a leftover a later run
        deletes."""
        await self._periodic.stop(budget)

    def _counted(self, done: Counter[str]) -> None:
        self._count(METRIC, "runs", 1)
        for name, n in done.items():
            if n:
                self._count(METRIC, name, n)

    def _failed(self, exc: Exception) -> None:  # build_all catches its own: a clock that failed, say
        log.error("visit summary failed: %s: %s", type(exc).__name__, exc)
        self._counted(Counter(failed=1))
