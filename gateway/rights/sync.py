"""Keeping the ledger current on every instance: rebuilt from ``consent_log`` at start, then polled.

Each instance records its own decisions in its ledger at once. Decisions made by other instances
(other workers, other hosts on the same ClickHouse) arrive through the log: every ``POLL_SECONDS``
the instance reads the rows inserted since its last look (by ``ingested_at``, the server's clock,
with an overlap, since merging a decision twice changes nothing), so a withdrawal made anywhere is
honoured everywhere within about a second once its row is stored.

In that second another instance may have accepted hits under the superseded cookie. When the poll
brings a restriction (withdrawal, refusal after a grant, erasure) for a consent id this instance
accepted hits of lately, it flushes its writer and deletes that id's rows stamped after the
restriction (or, for an erasure, up to it): after propagation no such row remains. The filter on
the writer (``ConsentLedger.row_filter``) keeps the rows still buffered from landing afterwards.

A grant answered 503 whose row an insert may have stored all the same is followed by an
``undelivered`` row, and so is a decision answered to a cross-site request, whose cookie the browser
does not keep (``gateway/consent/record.py``); the pair is skipped, since the visitor kept their
earlier cookie. Should the poll learn the grant before its twin arrives, the earlier cookie reads as
superseded and the banner asks again: the safe side, nothing is tracked. Should a browser keep a
cross-site decision's cookie after all, a later decision on its id still supersedes it: the start
loads every id with such a pair and another decision, though that one alone would need no entry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from gateway.config.consent import ANALYTICS
from gateway.monitoring.counters import Metrics
from gateway.rights.ledger import HORIZON_SECONDS, Change, ConsentLedger
from gateway.storage.clickhouse import Database
from gateway.storage.writer import BatchWriter

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
OVERLAP = dt.timedelta(seconds=5)  # a row's ingested_at can precede the moment a query sees it
RECENT_SECONDS = 86400  # the poll reads decisions stamped within a day; later ones wait for a restart
PRUNE_SECONDS = 3600.0
REREAD_SECONDS = 60.0  # every minute, the last two minutes of decisions are read again by ts alone
MAX_ATTEMPTS = 20  # a purge failing this often (~10 minutes of back-off) is logged and given up

_AGGREGATE = ("consent_id, toUnixTimestamp64Milli(max(ts)) / 1000, "
              f"argMax(has(categories, '{ANALYTICS}'), ts), "
              "toUnixTimestamp64Milli(maxIf(ts, action = 'erase')) / 1000, "
              "count() > 1 OR countIf(action != 'grant') > 0, max(ingested_at)")


def _delivered(where: str) -> str:
    """The log rows matching ``where``, less each grant answered 503 and its ``undelivered`` twin
    (same id, same time): the visitor never got that cookie, so it supersedes nothing."""
    return (f"(SELECT * FROM consent_log WHERE {where} AND (consent_id, ts) NOT IN "
            f"(SELECT consent_id, ts FROM consent_log WHERE {where} AND action = 'undelivered'))")


def apply_rows(ledger: ConsentLedger, rows: list[tuple[Any, ...]]) -> tuple[list[Change], dt.datetime | None]:
    """Merge aggregated log rows into the ledger; the restrictions they bring and the newest
    ``ingested_at`` among them."""
    changes, newest = [], None
    for consent_id, at, analytics, erased_at, several, ingested_at in rows:
        change = ledger.record(consent_id, int(at), analytics=bool(analytics), first=not several,
                               erased_at=float(erased_at), at=float(at))
        if change is not None:
            changes.append(change)
        newest = ingested_at if newest is None or ingested_at > newest else newest
    return changes, newest


def load(db: Database, ledger: ConsentLedger, now: float) -> dt.datetime:
    """Rebuild the ledger from the log; returns the server's time the next poll starts from."""
    started: dt.datetime = db.query("SELECT now64(3)")[0][0]
    horizon = dt.datetime.fromtimestamp(now - HORIZON_SECONDS, dt.UTC)
    where = "ts >= {horizon:DateTime64(3)}"
    rows = db.query(f"SELECT {_AGGREGATE} FROM {_delivered(where)} GROUP BY consent_id "
                    "HAVING count() > 1 OR countIf(action = 'erase') > 0 OR consent_id IN "
                    f"(SELECT consent_id FROM consent_log WHERE {where} AND action = 'undelivered')",
                    {"horizon": horizon})
    apply_rows(ledger, rows)
    return started


@dataclass(slots=True)
class Purge:
    """Rows of one consent id that must go: a restriction's window (hits this instance accepted, under
    the visitor id it saw) and/or everything up to an erasure."""

    change: Change
    visitor_id: int | None  # the visitor id this instance accepted hits under; None: any
    attempts: int = 0


class LedgerSync:
    """The poll task of one instance, and the purges it finds necessary."""

    def __init__(self, db: Database, ledger: ConsentLedger, writer: BatchWriter, metrics: Metrics,
                 *, interval: float = POLL_SECONDS) -> None:
        self.db = db
        self.ledger = ledger
        self.writer = writer
        self.metrics = metrics
        self.interval = interval
        self.watermark: dt.datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._purging: asyncio.Task[None] | None = None
        self._pending: list[Purge] = []  # in order; one that keeps failing is given up after a while
        self._pruned_at = self._reread_at = 0.0

    async def start(self, now: float) -> None:
        self.watermark = await asyncio.to_thread(load, self.db, self.ledger, now)
        self._reread_at = now
        self._task = asyncio.create_task(self._run(), name="ledger-sync")

    async def close(self) -> None:
        for task in (self._task, self._purging):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._task = self._purging = None

    def schedule(self, change: Change, visitor_id: int | None = None) -> None:
        """Purge these rows in the background (also for an erasure whose DELETE failed)."""
        self._pending.append(Purge(change, visitor_id))
        if self._purging is None or self._purging.done():
            self._purging = asyncio.create_task(self._purge(), name="ledger-purge")

    async def poll(self, now: float) -> list[Purge]:
        """One look at the log; returns the purges it scheduled."""
        assert self.watermark is not None, "start() first"
        recent = dt.datetime.fromtimestamp(now - RECENT_SECONDS, dt.UTC)
        where = "ts >= {recent:DateTime64(3)} AND ingested_at >= {since:DateTime64(3)}"
        params = {"recent": recent, "since": self.watermark - OVERLAP}
        if now - self._reread_at >= REREAD_SECONDS:
            # Now and then by time of decision alone: a row whose insert took longer than the overlap
            # to become visible would otherwise wait for a restart.
            where, params = "ts >= {recent:DateTime64(3)}", {"recent": dt.datetime.fromtimestamp(
                now - REREAD_SECONDS * 2, dt.UTC)}
            self._reread_at = now
        rows = await asyncio.to_thread(
            self.db.query, f"SELECT {_AGGREGATE} FROM {_delivered(where)} GROUP BY consent_id", params)
        changes, newest = apply_rows(self.ledger, rows)
        if newest is not None and newest > self.watermark:
            self.watermark = newest
        todo = []
        for change in changes:
            if change.erased_at:  # always: rows accepted here may have landed after the erasure
                todo.append(Purge(change, None))
                continue
            visitor = self.ledger.accepted_since(change.consent_id, change.restricted_at - 2)
            if visitor is not None:
                todo.append(Purge(change, visitor))
        for item in todo:
            self.schedule(item.change, item.visitor_id)
        if now - self._pruned_at > PRUNE_SECONDS:
            self.ledger.prune(now)
            self._pruned_at = now
        return todo

    async def _purge(self) -> None:
        while self._pending:
            item = self._pending[0]
            try:
                await self.writer.flush()  # rows accepted here reach ClickHouse (or the filter) first
                deleted = await asyncio.to_thread(purge, self.db, self.ledger, item.change, item.visitor_id)
            except Exception as exc:
                item.attempts += 1
                self.metrics.count("consent_sync", "purge-failed")
                if item.attempts >= MAX_ATTEMPTS:
                    self._pending.pop(0)
                    log.error("consent sync: gave up purging the rows of a superseded consent after %d "
                              "attempts: %s: %s", item.attempts, type(exc).__name__, str(exc)[:200])
                    continue
                await asyncio.sleep(min(30.0, 0.5 * 2 ** item.attempts))
                continue
            self._pending.pop(0)
            self.metrics.count("consent_sync", "purged" if deleted else "purge-found-nothing")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            now = time.time()
            try:
                await self.poll(now)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ClickHouse down or slow: the next poll catches up
                self.metrics.count("consent_sync", "poll-failed")
                log.warning("consent sync: %s: %s", type(exc).__name__, str(exc)[:200])
            finally:
                self.ledger.rotate(now)


def purge(db: Database, ledger: ConsentLedger, change: Change, visitor_id: int | None = None) -> int:
    """Delete the rows of a consent id that a decision learnt late says must not remain; returns how
    many events there were. Counted first, so that a purge with nothing to do costs no mutation.

    The visit summary's visits go at once too (``v_first``/``v_last`` are packed times: milliseconds
    * 8 + flags): for an erasure, those that began by then, even when an earlier pass took the events;
    for a withdrawal, every visit that reaches into its window. A visit under way at the withdrawal
    thus goes whole, and its part before the withdrawal comes back when its day is rebuilt at the
    builder's next run (its fingerprint changed with the deleted hits): for a while the dashboards count
    too little, never what the visitor withdrew."""
    params: dict[str, Any] = {"cid": change.consent_id}
    clauses, visits = [], []
    if change.erased_at:
        clauses.append("ts <= fromUnixTimestamp64Milli({erased:Int64})")
        params["erased"] = int(change.erased_at * 1000)
        visits.append("v_first < {erased_packed:UInt64}")
        params["erased_packed"] = (params["erased"] + 1) * 8
    if change.restricted_at:
        window = "ts >= fromUnixTimestamp64Milli({restricted:Int64})"
        params["restricted"] = int(change.restricted_at * 1000)
        inside = ["v_last >= {restricted_packed:UInt64}"]
        params["restricted_packed"] = params["restricted"] * 8
        if visitor_id is not None:  # the rows this instance took under the superseded cookie, no others
            window += " AND visitor_id = {visitor:UInt64}"
            inside.append("visitor_id = {visitor:UInt64}")
            params["visitor"] = visitor_id
        regranted = ledger.regranted_at(change.consent_id)
        if regranted > change.restricted_at:  # granted again since: its rows stay
            window += " AND ts < fromUnixTimestamp({regranted:Int64})"
            inside.append("v_first < {regranted_packed:UInt64}")
            params["regranted"] = regranted
            params["regranted_packed"] = regranted * 1000 * 8
        clauses.append(f"({window})")
        visits.append(f"({' AND '.join(inside)})")
    where = f"consent_id = {{cid:UUID}} AND ({' OR '.join(clauses)})"
    found = int(db.query(f"SELECT count() FROM events WHERE {where}", params)[0][0])
    if found:
        db.command(f"DELETE FROM {db.mutation_table('events')} WHERE {where}", params)
    stored = f"consent_id = {{cid:UUID}} AND ({' OR '.join(visits)})"
    if int(db.query(f"SELECT count() FROM visits WHERE {stored}", params)[0][0]):
        db.command(f"DELETE FROM {db.mutation_table('visits')} WHERE {stored}", params)
    return found
