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
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

from gateway.consent_config import ANALYTICS
from gateway.metrics import Metrics
from gateway.rights.ledger import HORIZON_SECONDS, SEEN_SECONDS, Change, ConsentLedger
from gateway.storage.clickhouse import Database
from gateway.storage.writer import BatchWriter

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
OVERLAP = dt.timedelta(seconds=5)  # a row's ingested_at can precede the moment a query sees it
RECENT_SECONDS = 86400  # the poll reads decisions stamped within a day; later ones wait for a restart
PRUNE_SECONDS = 3600.0

_AGGREGATE = ("consent_id, toUnixTimestamp64Milli(max(ts)) / 1000, "
              f"argMax(has(categories, '{ANALYTICS}'), ts), "
              "toUnixTimestamp64Milli(maxIf(ts, action = 'erase')) / 1000, "
              "count() > 1 OR countIf(action != 'grant') > 0, max(ingested_at)")


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
    rows = db.query(f"SELECT {_AGGREGATE} FROM consent_log WHERE ts >= {{horizon:DateTime64(3)}} "
                    "GROUP BY consent_id HAVING count() > 1 OR countIf(action = 'erase') > 0",
                    {"horizon": horizon})
    apply_rows(ledger, rows)
    return started


class LedgerSync:
    """The poll task of one instance."""

    def __init__(self, db: Database, ledger: ConsentLedger, writer: BatchWriter, metrics: Metrics,
                 *, interval: float = POLL_SECONDS) -> None:
        self.db = db
        self.ledger = ledger
        self.writer = writer
        self.metrics = metrics
        self.interval = interval
        self.watermark: dt.datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: list[Change] = []  # purges that failed, retried at the next poll
        self._pruned_at = 0.0

    async def start(self, now: float) -> None:
        self.watermark = await asyncio.to_thread(load, self.db, self.ledger, now)
        self._task = asyncio.create_task(self._run(), name="ledger-sync")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def poll(self, now: float) -> list[Change]:
        """One look at the log; returns the restrictions that needed a purge here."""
        assert self.watermark is not None, "start() first"
        since = self.watermark - OVERLAP
        recent = dt.datetime.fromtimestamp(now - RECENT_SECONDS, dt.UTC)
        rows = await asyncio.to_thread(
            self.db.query, f"SELECT {_AGGREGATE} FROM consent_log WHERE ts >= {{recent:DateTime64(3)}} "
            "AND ingested_at >= {since:DateTime64(3)} GROUP BY consent_id",
            {"recent": recent, "since": since})
        changes, newest = apply_rows(self.ledger, rows)
        if newest is not None and newest > self.watermark:
            self.watermark = newest
        todo = [c for c in changes if self._needs_purge(c)]
        self._pending.extend(todo)
        await self._purge()
        if now - self._pruned_at > PRUNE_SECONDS:
            self.ledger.prune(now)
            self._pruned_at = now
        return todo

    def _needs_purge(self, change: Change) -> bool:
        since = change.restricted_at - 2 if change.restricted_at else change.erased_at - SEEN_SECONDS
        return self.ledger.recently_accepted(change.consent_id, since)

    async def _purge(self) -> None:
        if not self._pending:
            return
        await self.writer.flush()  # rows accepted here reach ClickHouse (or the filter) first
        while self._pending:
            change = self._pending[0]
            await asyncio.to_thread(purge, self.db, self.ledger, change)
            self._pending.pop(0)
            self.metrics.count("consent_sync", "purged")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll(time.time())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ClickHouse down or slow: the next poll catches up
                self.metrics.count("consent_sync", "poll-failed")
                log.warning("consent sync: %s: %s", type(exc).__name__, str(exc)[:200])


def purge(db: Database, ledger: ConsentLedger, change: Change) -> None:
    """Delete the rows of a consent id that a restriction learnt late says must not remain."""
    params: dict[str, Any] = {"cid": change.consent_id}
    clauses = []
    if change.erased_at:
        clauses.append("ts <= fromUnixTimestamp64Milli({erased:Int64})")
        params["erased"] = int(change.erased_at * 1000)
    if change.restricted_at:
        window = "ts >= fromUnixTimestamp64Milli({restricted:Int64})"
        params["restricted"] = int(change.restricted_at * 1000)
        regranted = ledger.regranted_at(change.consent_id)
        if regranted > change.restricted_at:  # granted again since: its rows stay
            window += " AND ts < fromUnixTimestamp({regranted:Int64})"
            params["regranted"] = regranted
        clauses.append(f"({window})")
    db.command(f"DELETE FROM events WHERE consent_id = {{cid:UUID}} AND ({' OR '.join(clauses)})", params)
