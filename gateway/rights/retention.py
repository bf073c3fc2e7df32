"""Retention and proof periods: how long stored rows are kept, and the sweep that deletes the rest.

Two periods, both per site (``gateway/config/sites.py``):

- ``retention_days`` for the analytics data (``events``): the last N days in the site's time zone,
  today counted. ``oldest_kept`` is where they start; every report (``gateway/stats/engine.py``),
  export and API answer over ``events`` reads nothing older, so a row is gone from all of them by the
  time it expires, whenever ClickHouse's TTL merge comes (every ~4 hours, later on a busy server).
  The bound is the site's current setting, not the value stored in the row, so a change applies to
  rows already stored at once; the sweep then makes storage agree.
- ``proof_days`` for the proof (``consent_log``, ``rights_requests``): a consent id's decisions are
  kept that long after its last one, an audit row that long after the request. Proof outlives the
  analytics data on purpose: the site owner must be able to show, for every hit still stored, the
  decision that allowed it (a hit may come up to a consent lifetime after the decision and is then
  kept ``retention_days``), and to answer a complaint or an authority about a decision or an erasure
  after the data itself is gone, within the usual limitation period (3 years). It holds no analytics
  data: a pseudonymous id, the choice, the banner's version, country and browser family.

The sweep runs at start and hourly, in every gateway process (``Sweeper``, in the app's lifespan).
Each step first counts what it would touch and issues its statement only when that is not zero, so an
idle sweep is a few cheap reads and no mutation. Every statement is idempotent (a bound and a
condition, never "the next N rows"), so instances sweeping the same server at once only repeat each
other's work. Deletes are lightweight and asynchronous (``lightweight_deletes_sync = 0``): the sweep
queues them and moves on, and never holds embedded chDB, which serialises every call, while a
mutation runs. ``/-/metrics`` counts, under ``retention``, the sweeps, the rows each step touched and
each failure ("<step>-failed"); a failure is also one log line, and the next hour tries again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.config.sites import Site
from gateway.stats.query import oldest_kept as oldest_kept  # with the queries it bounds; re-exported
from gateway.storage.clickhouse import Database
from gateway.storage.periodic import Periodic, first_line

log = logging.getLogger(__name__)
SWEEP_EVERY = 3600.0  # seconds; reports never wait for it (they filter), storage catches up hourly
METRIC = "retention"
DT = "DateTime64(3, 'UTC')"


def proof_cutoff(site: Site, now: dt.datetime) -> dt.datetime:
    """Proof older than this instant is past ``site``'s proof period (a consent id's rows go once its
    last decision is older; an audit row once it is)."""
    return now.astimezone(dt.UTC) - dt.timedelta(days=site.proof_days)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the sweep: ``where`` selects the rows of ``table`` it is about (counted first);
    ``statement`` deletes or retags them."""

    name: str  # the metric's reason: rows touched; "<name>-failed": failures
    table: str
    where: str
    statement: str

    def count_sql(self) -> str:
        return f"SELECT count() FROM {self.table} WHERE {self.where}"

    def sql(self, table: str | None = None) -> str:
        """The statement, on ``table`` (``Database.mutation_table``: a cluster's local tables)."""
        return self.statement.format(table=table or self.table, where=self.where)


_SITE = "site_id = {site:UInt32}"
_DELETE = "DELETE FROM {table} WHERE {where} SETTINGS lightweight_deletes_sync = 0"
# Bound parameters, the same for every step: site, days (retention), kept (oldest_kept), proof (cutoff),
# tz (the site's time zone).
STEPS = (
    # Rows older than the site's retention, whatever retention they were written with.
    Step("events-expired", "events", f"{_SITE} AND ts < {{kept:{DT}}}", _DELETE),
    # The rest carry the site's current retention, so the TTL applies it too, should no sweep run for
    # a while; a longer retention thus also saves rows written under a shorter one from the TTL.
    # Asynchronous as every ALTER (mutations_sync = 0); ``ts >=``: not the rows just queued for deletion.
    Step("events-retagged", "events",
         f"{_SITE} AND ts >= {{kept:{DT}}} AND retention_days != {{days:UInt16}}",
         "ALTER TABLE {table} UPDATE retention_days = {{days:UInt16}} WHERE {where}"),
    # Decisions of ids with none since the cutoff. ``ts <`` as well: a decision made while the sweep
    # runs is never taken, even if its id was judged stale a moment before (its older history then
    # goes, which was past the period already).
    Step("decisions-expired", "consent_log",
         f"{_SITE} AND ts < {{proof:{DT}}} AND consent_id NOT IN "
         f"(SELECT consent_id FROM consent_log WHERE {_SITE} AND ts >= {{proof:{DT}}})", _DELETE),
    Step("requests-expired", "rights_requests", f"{_SITE} AND ts < {{proof:{DT}}}", _DELETE),
    # The visit summary (gateway/stats/summary.py) by local day: a day before the first kept one is
    # read by no report, and its visits, like its hits, go. The day ``kept`` falls in stays until it
    # has no kept hour left (reports cut that day at query time when ``kept`` is not its midnight).
    Step("visits-expired", "visits", f"{_SITE} AND day < toDate({{kept:{DT}}}, {{tz:String}})", _DELETE),
    Step("visits-retagged", "visits",
         f"{_SITE} AND day >= toDate({{kept:{DT}}}, {{tz:String}}) AND retention_days != {{days:UInt16}}",
         "ALTER TABLE {table} UPDATE retention_days = {{days:UInt16}} WHERE {where}"),
    Step("visit-builds-expired", "visit_builds", f"{_SITE} AND day < toDate({{kept:{DT}}}, {{tz:String}})",
         _DELETE),
)


@dataclass(slots=True)
class Sweep:
    """What one sweep did: rows touched per step, failures per step."""

    rows: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)


def sweep(db: Database, sites: Sequence[Site], now: dt.datetime, *,
          stopped: Callable[[], bool] = lambda: False) -> Sweep:
    """Apply every site's retention and proof period at ``now``. Never raises for ClickHouse's sake:
    a failed step is logged and counted, and the others still run. ``stopped`` ends it between steps
    (the app is shutting down)."""
    done = Sweep()
    for site in sites:
        params: dict[str, Any] = {"site": site.id, "days": site.retention_days, "tz": site.timezone,
                                  "kept": oldest_kept(site, now), "proof": proof_cutoff(site, now)}
        for step in STEPS:
            if stopped():
                return done
            try:
                rows = int(db.query(step.count_sql(), params)[0][0])
                if rows:
                    db.command(step.sql(db.mutation_table(step.table)), params)
                    done.rows[step.name] += rows
            except Exception as exc:  # ClickHouse down, a grant missing: the next sweep tries again
                if stopped():  # the stop's doing (a statement cut off, the client closed): no failure
                    return done
                done.failed[step.name] += 1
                log.error("retention sweep: %s for site %d failed: %s: %s", step.name, site.id,
                          type(exc).__name__, first_line(exc))
    return done


class Sweeper:
    """The background task of one process: a sweep at start, then every ``every`` seconds
    (``gateway.storage.periodic``: stopping waits briefly for the step under way)."""

    def __init__(self, db: Database, sites: Sequence[Site], clock: Callable[[], dt.datetime],
                 count: Callable[[str, str, int], None], every: float = SWEEP_EVERY) -> None:
        self._count = count
        self._periodic = Periodic("retention-sweeper",
                                  lambda stopped: sweep(db, sites, clock(), stopped=stopped),
                                  self._counted, self._failed, every)

    @property
    def runs(self) -> int:
        return self._periodic.runs

    def start(self) -> None:
        self._periodic.start()

    async def stop(self, budget: float | None = None) -> None:
        await self._periodic.stop(budget)

    def _counted(self, done: Sweep) -> None:
        self._count(METRIC, "sweeps", 1)
        for name, rows in done.rows.items():
            self._count(METRIC, name, rows)
        for name, failures in done.failed.items():
            self._count(METRIC, f"{name}-failed", failures)

    def _failed(self, exc: Exception) -> None:  # the sweep catches its own: a clock that failed, say
        log.error("retention sweep failed: %s: %s", type(exc).__name__, exc)
        self._count(METRIC, "sweep-failed", 1)
