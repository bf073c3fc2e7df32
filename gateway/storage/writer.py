"""The batching writer: rows in, ClickHouse inserts out, durability reported back.

``submit`` buffers rows for a table and returns a future that resolves once those rows are
durable — today, once ClickHouse has acknowledged the insert. Callers that must not lose what
they acknowledge (invariant 4) await that future before answering 2xx; a write-ahead journal can
later resolve it earlier without changing this interface.

Buffers flush when a table reaches ``batch_size`` rows, every ``flush_interval`` seconds, and at
shutdown. A failed insert is retried with back-off under the same deduplication token, so a retry
of an insert that did land is not stored twice. While ClickHouse is unreachable rows wait in
memory up to ``max_pending``; past that ``submit`` raises ``Overloaded`` so the caller can answer
503 instead of dropping data silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.storage.clickhouse import Database
from gateway.storage.schema import TableSpec

log = logging.getLogger(__name__)


class Overloaded(RuntimeError):
    """Too many rows are waiting for ClickHouse; the caller must refuse the input (503)."""


class WriterClosed(RuntimeError):
    """The writer is shutting down and takes no more rows."""


class NotDurable(RuntimeError):
    """The writer stopped before these rows could be written."""


@dataclass(slots=True)
class _Batch:
    table: TableSpec
    rows: list[Sequence[Any]] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    token: str = ""
    attempts: int = 0


@dataclass(slots=True)
class WriterStats:
    rows_written: int = 0
    batches_written: int = 0
    insert_failures: int = 0
    pending_rows: int = 0
    last_error: str = ""
    last_flush_seconds: float = 0.0


class BatchWriter:
    def __init__(self, db: Database, *, batch_size: int = 5000, flush_interval: float = 1.0,
                 max_pending: int = 200_000, max_backoff: float = 30.0) -> None:
        self._db = db
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._max_backoff = max_backoff
        self._buffers: dict[str, _Batch] = {}
        self._retry: deque[_Batch] = deque()
        self._wake = asyncio.Event()  # a buffer is full
        self._stop = asyncio.Event()
        self._flush_lock = asyncio.Lock()  # one flush at a time: the timer's, flush()'s or close()'s
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = WriterStats()

    def submit(self, table: TableSpec, rows: Sequence[Sequence[Any]]) -> asyncio.Future[None]:
        """Buffer ``rows`` for ``table``; the future resolves when they are durable."""
        if self._closing:
            raise WriterClosed("the writer is shutting down")
        if self.stats.pending_rows + len(rows) > self._max_pending:
            raise Overloaded(f"{self.stats.pending_rows} rows are waiting for ClickHouse")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        batch = self._buffers.get(table.name)
        if batch is None:
            batch = self._buffers[table.name] = _Batch(table)
        batch.rows.extend(rows)
        batch.waiters.append(future)
        self.stats.pending_rows += len(rows)
        if len(batch.rows) >= self._batch_size:
            self._wake.set()
        return future

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="clickhouse-writer")

    async def flush(self) -> None:
        """Write everything buffered now; raises the insert's error if ClickHouse refuses it."""
        await self._flush_once(raise_errors=True)

    async def close(self, timeout: float = 10.0) -> int:
        """Stop taking rows, write what is buffered (retrying up to ``timeout`` s); returns rows lost."""
        self._closing = True
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task  # lets an insert under way finish rather than abandoning it mid-flight
            self._task = None
        deadline = time.monotonic() + timeout
        while self._has_work() and time.monotonic() < deadline:
            if not await self._flush_once(raise_errors=False):
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        lost = 0
        for batch in [*self._retry, *self._buffers.values()]:
            lost += len(batch.rows)
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_exception(NotDurable("the writer stopped before ClickHouse took these rows"))
                    waiter.exception()  # retrieved here, so nobody is warned about an unawaited future
        if lost:
            log.error("writer stopped with %d rows that ClickHouse did not take (last error: %s)",
                      lost, self.stats.last_error)
        self._retry.clear()
        self._buffers.clear()
        return lost

    def _has_work(self) -> bool:
        return bool(self._retry) or any(b.rows for b in self._buffers.values())

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            if failures:
                # Back off while ClickHouse is failing; a full buffer does not cut this short.
                await _wait(self._stop, min(self._max_backoff, 0.2 * 2 ** min(failures, 10)))
            else:
                await _wait(self._wake, self._flush_interval)
                self._wake.clear()
            if self._closing:
                return
            failures = 0 if await self._flush_once(raise_errors=False) else failures + 1

    async def _flush_once(self, *, raise_errors: bool) -> bool:
        """Retry failed batches, then write buffered rows; False when an insert failed."""
        async with self._flush_lock:
            return await self._flush_locked(raise_errors=raise_errors)

    async def _flush_locked(self, *, raise_errors: bool) -> bool:
        for batch in self._buffers.values():
            if batch.rows:
                batch.token = uuid.uuid4().hex
                self._retry.append(batch)
        self._buffers = {}
        while self._retry:
            batch = self._retry[0]
            started = time.perf_counter()
            try:
                await asyncio.to_thread(self._db.insert, batch.table.name, batch.rows, batch.table.columns,
                                        {"insert_deduplication_token": batch.token})
            except Exception as exc:
                batch.attempts += 1
                self.stats.insert_failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
                log.warning("insert of %d rows into %s failed (attempt %d): %s", len(batch.rows),
                            batch.table.name, batch.attempts, self.stats.last_error)
                if raise_errors:
                    raise
                return False
            self._retry.popleft()
            self.stats.last_flush_seconds = time.perf_counter() - started
            self.stats.rows_written += len(batch.rows)
            self.stats.batches_written += 1
            self.stats.pending_rows -= len(batch.rows)
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_result(None)
        return True


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=timeout)
