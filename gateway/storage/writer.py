"""The batching writer: rows in, ClickHouse inserts out, durability reported back.

``submit`` buffers rows for a table and returns a future that resolves once those rows are
durable — today, once ClickHouse has acknowledged the insert. Callers that must not lose what
they acknowledge (invariant 4) await that future before answering 2xx; a write-ahead journal can
later resolve it earlier without changing this interface.

Buffers flush when a table reaches ``batch_size`` rows, every ``flush_interval`` seconds, and at
shutdown; no insert carries more than ``batch_size`` rows (beyond one oversized submission). A
batch that fails for a transient reason is retried with back-off under the same deduplication token;
one that fails for good is split so that only the bad rows fail (``writer_insert``). Meanwhile rows
wait in memory up to ``max_pending``; past that ``submit`` raises ``Overloaded`` so the caller can
answer 503 instead of dropping data silently.

``retract`` takes rows back that no insert can have stored yet, for a caller that gave up waiting
and told its client so (a consent grant answered 503 must not be logged afterwards): buffered rows,
and rows of a batch whose failed attempts never reached ClickHouse (``gateway.storage.failures``).
Rows an insert is carrying right now wait for that attempt to end, within the caller's bound.

``submit(force=True)`` is for the one row a caller must add once it learns its rows may be stored
after all (an ``undelivered`` row after a grant answered 503): it is taken past ``max_pending`` and
while ``close`` is still writing. Such rows are bounded by the rows they follow, each of which was
taken under ``max_pending``. Forced rows are batched apart and attempted before every other batch:
once a forced row is buffered, no row it follows is retried before it. At ``close``, rows an attempt
may have stored fail with ``MaybeStored`` before the writer's last attempt, so that the rows their
callers add in answer are tried in it (``_last_call`` says what is left open).

Here: ``BatchWriter`` (taking rows and taking them back, the flush timer, ``close``); what it holds
is in ``writer_batches``, one insert attempt and the figures in ``writer_insert``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from gateway.storage.clickhouse import Database
from gateway.storage.failures import NotDurable, Overloaded, Rejected, WriterClosed
from gateway.storage.schema import TableSpec
from gateway.storage.writer_batches import Batch, Buffer, Submission, cut, fail, find, remove
from gateway.storage.writer_insert import Inserter, RowFilter, WriterStats

__all__ = ["BatchWriter", "MaybeStored", "NotDurable", "Overloaded", "Rejected", "Retraction", "RowFilter",
           "WriterClosed", "WriterStats"]

log = logging.getLogger(__name__)
# At close: how long waiters on rows that may be stored get to add theirs, and the last attempt's bound.
LAST_CALL = 0.05
LAST_ATTEMPT = 1.0


class MaybeStored(NotDurable):
    """The writer stopped, and an attempt that may have stored these rows failed or never ended."""


class Retraction(enum.Enum):
    """What ``retract`` found: the rows will never be stored, are stored, or cannot be taken back."""

    TAKEN_BACK = "taken-back"
    STORED = "stored"
    # An attempt that may have stored them failed, or one is still under way: they stay in the
    # writer and will be stored (exactly once, under their batch's token) unless the process dies.
    KEPT = "kept"


class BatchWriter:
    def __init__(self, db: Database, *, batch_size: int = 10_000, flush_interval: float = 1.0,
                 max_pending: int = 200_000, max_backoff: float = 5.0) -> None:
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._max_backoff = max_backoff
        self._buffers: dict[str, Buffer] = {}
        self._retry: deque[Batch] = deque()
        self._wake = asyncio.Event()  # a buffer is full, or the writer is closing
        self._stop = asyncio.Event()
        self._flush_lock = asyncio.Lock()  # one flush at a time: the timer's, flush()'s or close()'s
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False  # close() is done: not even a forced row is taken now
        self._inserting: Batch | None = None  # the batch an insert is carrying right now
        self._insert_ended = asyncio.Event()  # set when that insert attempt has ended
        self.stats = WriterStats()
        self._inserter = Inserter(db, self._retry, self.stats)

    def filter_rows(self, table: TableSpec, keep: RowFilter | None) -> None:
        """Pass ``table``'s rows through ``keep`` right before each insert: rows that must no longer be
        stored (an erased visitor's, still buffered) are dropped there, whichever path brought them."""
        if keep is None:
            self._inserter.filters.pop(table.name, None)
        else:
            self._inserter.filters[table.name] = keep

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def submit(self, table: TableSpec, rows: Sequence[Sequence[Any]], *, urgent: bool = False,
               force: bool = False) -> asyncio.Future[None]:
        """Buffer ``rows`` for ``table``; the future resolves when they are durable.

        ``urgent`` flushes now rather than at the next timer tick: for rare rows someone waits on,
        such as a consent decision. ``force`` takes the rows past ``max_pending`` and while ``close``
        is still writing: only for a row that must follow rows the writer already holds (see above).
        """
        # On every hit's path: kept to plain operations, no allocation beyond the future.
        if self._closed or (self._closing and not force):
            raise WriterClosed("the writer is shutting down")
        width = len(table.columns)
        for row in rows:
            if len(row) != width:
                raise ValueError(f"every row for {table.name} must have {width} values")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        count = len(rows)
        if not count:
            future.set_result(None)
            return future
        if self.stats.pending_rows + count > self._max_pending and not force:
            raise Overloaded(f"{self.stats.pending_rows} rows are waiting for ClickHouse")
        buffer = self._buffers.get(table.name)
        if buffer is None:
            buffer = self._buffers[table.name] = Buffer(table)
        buffer.submissions.append(Submission(rows, future, force))
        buffer.rows += count
        self.stats.pending_rows += count
        if urgent or buffer.rows >= self._batch_size:
            self._wake.set()
        return future

    async def retract(self, table: TableSpec, future: asyncio.Future[None], *, wait: float) -> Retraction:
        """Take back the rows submitted for ``table`` with ``future`` unless an insert can have stored them.

        Rows an insert is carrying now are decided by that attempt: this waits up to ``wait``
        seconds for it to end. Taken back, the future fails with ``NotDurable``.
        """
        deadline = time.monotonic() + wait
        while not future.done():
            found = find(self._buffers, self._retry, table, future, self._inserting)
            if found is None:
                return Retraction.KEPT
            holder, submission = found
            if holder is self._inserting:
                ended, left = self._insert_ended, deadline - time.monotonic()
                if left <= 0:
                    return Retraction.KEPT
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), left)
                continue
            if isinstance(holder, Batch) and holder.may_be_stored:
                return Retraction.KEPT
            remove(self._buffers, self._retry, holder, submission)
            self.stats.pending_rows -= len(submission.rows)
            fail(future, NotDurable("taken back before any insert could store these rows"))
            return Retraction.TAKEN_BACK
        failure = None if future.cancelled() else future.exception()
        if isinstance(failure, MaybeStored):
            return Retraction.KEPT
        return Retraction.STORED if failure is None and not future.cancelled() else Retraction.TAKEN_BACK

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="clickhouse-writer")
            self._task.add_done_callback(_report_crash)

    async def flush(self) -> None:
        """Write everything buffered now; raises the insert's error if a transient failure stops it."""
        await self._flush_once(raise_errors=True)

    async def close(self, timeout: float = 10.0) -> int:
        """Stop taking rows, write what is buffered (retrying up to ``timeout`` s); returns rows lost.

        Forced rows are taken until the end, and rows an attempt may have stored get one last attempt
        of up to ``LAST_ATTEMPT`` s more, with the rows their callers add (``_last_call``)."""
        self._closing = True
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        if self._task is not None:
            # Let an insert under way finish rather than abandon it mid-flight, within the deadline.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout)
            self._task = None
        while self._has_work() and (left := deadline - time.monotonic()) > 0:
            try:
                # Bounded, waiting for the flush lock included: an earlier flush may hold it with an
                # insert ClickHouse never answers (its rows stay unanswered, kept by the spool).
                async with asyncio.timeout(left):
                    flushed = await self._flush_once(raise_errors=False)
            except TimeoutError:
                break
            if not flushed:
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        if self._inserting is not None:  # an insert left running: it may store its rows yet
            self._inserting.may_be_stored = True
        await self._last_call()
        self._closed = True
        lost = maybe = 0
        for batch in self._pending_batches():
            lost += batch.row_count
            # Marked during the last attempt (its own failure, or cut short): too late for an answer.
            failure = (MaybeStored("the writer stopped; an attempt may have stored these rows")
                       if batch.may_be_stored else
                       NotDurable("the writer stopped before ClickHouse took these rows"))
            maybe += batch.row_count if batch.may_be_stored else 0
            for submission in batch.submissions:
                fail(submission.future, failure)
        if lost:
            log.error("writer stopped with %d rows that ClickHouse did not take (%s)", lost,
                      f"last error: {self.stats.last_error}" if self.stats.last_error else
                      "an insert under way got no answer in time")
        if maybe:
            log.error("%d of them may be stored all the same, and rows that follow them can no longer be "
                      "taken", maybe)
        self._retry.clear()
        self._buffers.clear()
        self._inserter.close()
        return lost

    async def _last_call(self) -> None:
        """Tell the waiters on rows an attempt may have stored, then try once more with what they add.

        Their callers must learn it while the writer still takes their answer (``force``). Forced rows
        go first: the rows they follow are retried only once ClickHouse has taken them. What is left
        open: an earlier attempt of those rows, abandoned or failed, may commit them on its own while the
        forced rows fail or do not end within ``LAST_ATTEMPT`` (ClickHouse down or hung at shutdown), or
        the process dies first; and rows this last attempt itself may store fail with ``MaybeStored``
        once no answer can be taken (logged as an error).
        """
        maybe = [one for batch in self._retry if batch.may_be_stored for one in batch.submissions]
        if not maybe:
            return
        for submission in maybe:
            fail(submission.future, MaybeStored("the writer stopped; an attempt may have stored these rows"))
        await asyncio.sleep(LAST_CALL)  # many turns of the loop: each waiter runs and submits its row
        with contextlib.suppress(Exception):  # TimeoutError included
            # Bounded: the writer's thread may still be held by an insert that never ended.
            async with asyncio.timeout(LAST_ATTEMPT):
                # Again while rows come: a forced row submitted during an attempt is tried too.
                while self._has_work() and await self._flush_once(raise_errors=False):
                    pass

    def _has_work(self) -> bool:
        return bool(self._retry) or bool(self._buffers)

    def _pending_batches(self) -> list[Batch]:
        return [*self._retry, *(Batch(b.table, b.submissions) for b in self._buffers.values())]

    async def _run(self) -> None:
        while not self._closing:
            if self.stats.consecutive_failures:
                # Back off while ClickHouse is failing; a full buffer does not cut this short.
                delay = min(self._max_backoff, 0.2 * 2 ** min(self.stats.consecutive_failures, 10))
                await _wait(self._stop, delay)
            else:
                await _wait(self._wake, self._flush_interval)
                self._wake.clear()
            if self._closing:
                return
            await self._flush_once(raise_errors=False)

    async def _flush_once(self, *, raise_errors: bool) -> bool:
        """Retry failed batches, then write buffered rows; False when a transient failure stopped it."""
        async with self._flush_lock:
            cut(self._buffers, self._retry, self._batch_size)
            while self._retry:
                if not await self._write_first(raise_errors=raise_errors):
                    return False
            return True

    async def _write_first(self, *, raise_errors: bool) -> bool:
        """Attempt the first batch; meanwhile ``retract`` knows which batch an insert is carrying."""
        batch, ended = self._retry[0], asyncio.Event()
        self._inserting, self._insert_ended = batch, ended
        try:
            return await self._inserter.attempt(batch, raise_errors=raise_errors)
        finally:
            self._inserting = None
            ended.set()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the ClickHouse writer stopped unexpectedly; rows are no longer flushed",
                  exc_info=task.exception())


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=timeout)
