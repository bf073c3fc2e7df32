"""Exports and erasures, the same whoever asks: the visitor, the site token, the CLI, the dashboard.

Inside a running gateway (``writer`` and ``ledger`` given), an erasure goes:
  0. the writer is flushed, so the rows buffered until now are stored, counted and deleted below;
  1. the ledger marks the consent id erased: from this moment the gate refuses its cookies and the
     writer's filter drops its rows still buffered, in the spool or in a replay;
  2. the erasure is logged in ``consent_log`` (action ``erase``, a refusal), which tells the other
     instances, and survives a restart (the ledger is rebuilt from it before the spool replays);
  3. the writer is flushed, so no insert of this visitor's rows is still under way;
  4. the rows are deleted (a synchronous lightweight DELETE) and counted gone;
  5. the request is written to the audit trail.
A hit sent 50 ms before the erasure is either in ClickHouse by step 3 (and deleted in 4) or still
buffered (and dropped by the filter). Without a gateway (the CLI on a stopped one), steps 1 and 3
have nothing to do: the log row written directly makes the next start drop any spooled row.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from gateway.config.settings import Settings
from gateway.config.sites import Site
from gateway.consent.cookie import Consent, decide
from gateway.consent.log import log_row
from gateway.rights import audit, data
from gateway.rights.ledger import Change, ConsentLedger
from gateway.rights.sync import LedgerSync
from gateway.storage.clickhouse import ClickHouseError, Database
from gateway.storage.schema import CONSENT_LOG_TABLE, RIGHTS_REQUESTS_TABLE, TableSpec
from gateway.storage.writer import BatchWriter

DURABLE_TIMEOUT = 10.0
CONCURRENT = 2  # exports and erasures running at once, per process
QUEUE = 16  # more waiting than this: 503, try again later
# Pauses between DELETE passes: another instance's writer flushes every second or so by default.
DELETE_PASSES = (0.25, 0.5, 1.0, 2.0)
LogRow = Callable[[Consent, float], tuple[Any, ...]]


class Unavailable(RuntimeError):
    """ClickHouse is down or too slow for this request: ask again later (503)."""


class Rights:
    def __init__(self, settings: Settings, db: Database, *, writer: BatchWriter | None = None,
                 ledger: ConsentLedger | None = None, sync: LedgerSync | None = None) -> None:
        self.settings = settings
        self.db = db
        self.writer = writer
        self.ledger = ledger
        self.sync = sync
        # Exports and erasures scan and rewrite one visitor's rows and flush the writer: a few at a
        # time, so that a burst of them (from many minted consent ids) cannot starve the hits.
        self._slots = asyncio.Semaphore(CONCURRENT)
        self._waiting = 0

    # --- who ----------------------------------------------------------------------------------

    async def consent_ids_for_user(self, site: Site, user_hash: str) -> list[uuid.UUID]:
        await self._flush()  # the user's latest hits are looked for too
        return list(await self._run(data.consent_ids_for_user, self.db, site, user_hash))

    async def known(self, site: Site, consent_id: uuid.UUID) -> bool:
        return bool(await self._run(data.known_consent, self.db, site, consent_id))

    # --- export -------------------------------------------------------------------------------

    async def export(self, site: Site, consent_ids: Sequence[uuid.UUID], request: audit.Request,
                     now: float, *, user_hash: str = "") -> dict[str, Any]:
        """The visitor-data document; by user id (``user_hash``), only the events that carry it."""
        async with self._slot():
            return await self._export(site, consent_ids, request, now, user_hash)

    async def _export(self, site: Site, consent_ids: Sequence[uuid.UUID], request: audit.Request,
                      now: float, user_hash: str) -> dict[str, Any]:
        await self._flush()  # a visitor who just browsed sees those hits in the file
        document: dict[str, Any] = await self._run(data.document, self.db, site, consent_ids, now, user_hash)
        await self._audit(request, events=document["event_count"], decisions=len(document["decisions"]),
                          now=now)
        return document

    # --- erasure ------------------------------------------------------------------------------

    async def refusal(self, site: Site, consent_id: uuid.UUID, now: float, *, source: str = "api",
                      previous: Consent | None = None) -> Consent:
        """The decision an erasure records: a refusal stamped after every earlier decision on the id."""
        # The log, not only the ledger: an id with one decision (a first grant) has no ledger entry,
        # and that grant may be stamped in this very second or later (another instance's clock).
        latest = max(self.ledger.latest(consent_id) if self.ledger is not None else 0,
                     await self._run(_latest_logged, self.db, site, consent_id))
        decided_at = max(int(now), latest + 1, previous.decided_at + 1 if previous is not None else 0)
        consent = decide(site=site, categories=[], source=source, now=now, previous=previous, current=False,
                         decided_at=decided_at)
        return dataclasses.replace(consent, consent_id=consent_id)

    async def erase(self, site: Site, refusals: Sequence[Consent], request: audit.Request, now: float, *,
                    user_hash: str = "", row: LogRow | None = None) -> int:
        """Erase every event of these consent ids (and of ``user_hash``); returns how many were stored."""
        async with self._slot():
            return await self._erase(site, refusals, request, now, user_hash, row)

    async def _erase(self, site: Site, refusals: Sequence[Consent], request: audit.Request, now: float,
                     user_hash: str, row: LogRow | None) -> int:
        build = row or self._log_row
        await self._flush()  # what was accepted until now lands, to be counted and deleted below
        logged_at = {c.consent_id: max(now, float(c.decided_at)) for c in refusals}
        if self.ledger is not None:
            for consent in refusals:
                at = int(logged_at[consent.consent_id] * 1000) / 1000  # the log's milliseconds
                self.ledger.record(consent.consent_id, consent.decided_at, analytics=False, erased_at=at,
                                   at=at)
        await self._write(CONSENT_LOG_TABLE, [build(c, logged_at[c.consent_id]) for c in refusals])
        ids = [c.consent_id for c in refusals]
        # Counted and checked up to the erasure: another instance that has not learnt of it yet may
        # still write rows of the id stamped after it, and deletes them itself once it learns.
        until = max(logged_at.values())
        try:
            await self._flush()
            stored = await self._run(data.count_events, self.db, site, ids, user_hash, until)
            await self._delete(site, ids, user_hash, until)
        except Unavailable:
            # The log says erased: make it true as soon as ClickHouse lets us, in the background.
            if self.sync is not None:
                for consent in refusals:
                    at = int(logged_at[consent.consent_id] * 1000) / 1000
                    self.sync.schedule(Change(consent.consent_id, restricted_at=at, erased_at=at))
            raise
        await self._audit(request, events=stored, decisions=len(refusals), now=now)
        return int(stored)

    async def _delete(self, site: Site, ids: list[uuid.UUID], user_hash: str, until: float) -> None:
        """DELETE, then check nothing stamped up to the erasure is left. Rows that show up again came from
        another instance's buffer (stamped before the erasure, written after our DELETE): each pass waits
        a little longer for those to land; only rows that outlast every pass make the request fail."""
        for pause in (0.0, *DELETE_PASSES):
            await asyncio.sleep(pause)
            await self._run(data.delete_events, self.db, site, ids, user_hash)
            if not await self._run(data.count_events, self.db, site, ids, user_hash, until):
                return
        raise Unavailable("ClickHouse still shows rows of this visitor after the DELETE")

    def _log_row(self, consent: Consent, at: float) -> tuple[Any, ...]:
        return log_row(consent, "erase", banner_version="", language="", country_code="", browser_family="",
                       instance=self.settings.instance_name, now=at)

    # --- log ----------------------------------------------------------------------------------

    async def log(self, site_id: int | None = None, consent_id: uuid.UUID | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
        return list(await self._run(audit.entries, self.db, site_id, consent_id, limit))

    # --- plumbing -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._waiting >= QUEUE:
            raise Unavailable("too many data requests at once")
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    async def _audit(self, request: audit.Request, *, events: int, decisions: int, now: float) -> None:
        await self._write(RIGHTS_REQUESTS_TABLE, [request.row(events=events, decisions=decisions,
                                                              instance=self.settings.instance_name, now=now)])

    async def _write(self, table: TableSpec, rows: list[tuple[Any, ...]]) -> None:
        if self.writer is None:
            await self._run(self.db.insert, table.name, rows, table.columns)
            return
        try:
            accepted = self.writer.submit(table, rows, urgent=True)
            await asyncio.wait_for(asyncio.shield(accepted), DURABLE_TIMEOUT)
        except Exception as exc:
            raise Unavailable(f"{table.name}: {type(exc).__name__}") from exc

    async def _flush(self) -> None:
        if self.writer is not None:
            try:
                await asyncio.wait_for(self.writer.flush(), DURABLE_TIMEOUT)
            except Exception as exc:
                raise Unavailable(f"flush: {type(exc).__name__}") from exc

    async def _run(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(call, *args)
        except (ClickHouseError, OSError, TimeoutError) as exc:  # down, unreachable or slow: 503
            raise Unavailable(f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def _latest_logged(db: Database, site: Site, consent_id: uuid.UUID) -> int:
    rows = db.query("SELECT toUnixTimestamp(max(ts)) FROM consent_log WHERE site_id = {site:UInt32} "
                    "AND consent_id = {cid:UUID}", {"site": site.id, "cid": consent_id})
    return int(rows[0][0]) if rows else 0
