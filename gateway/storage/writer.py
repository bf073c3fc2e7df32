"""The batching writer: rows in, ClickHouse inserts out, durability reported back.

``submit`` buffers rows for a table and returns a future that resolves once those rows are
durable — today, once ClickHouse has acknowledged the insert. Callers that must not lose what
they acknowledge (invariant 4) await that future before answering 2xx; a write-ahead journal can
later resolve it earlier without changing this interface.

Buffers flush when a table reaches ``batch_size`` rows, every ``flush_interval`` seconds, and at
shutdown; no insert carries more than ``batch_size`` rows (beyond one oversized submission).
Failures are of two kinds:
- transient (ClickHouse down, network, timeouts, a missing table during a deploy): the batch is
  retried with back-off under the same deduplication token, so a retry of an insert that did land
  is not stored twice. Meanwhile rows wait in memory up to ``max_pending``; past that ``submit``
  raises ``Overloaded`` so the caller can answer 503 instead of dropping data silently.
- permanent (a value the column cannot hold): the batch is split into its submissions, the good
  ones are written and only the bad one fails, with ``Rejected``. One bad row never blocks others.
Inserts run on the writer's own thread, so slow health checks cannot starve it.

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
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gateway.storage.clickhouse import Database
from gateway.storage.failures import (
    NotDurable,
    Overloaded,
    Rejected,
    WriterClosed,
    is_permanent,
    may_have_stored,
)
from gateway.storage.schema import TableSpec

__all__ = ["BatchWriter", "MaybeStored", "NotDurable", "Overloaded", "Rejected", "Retraction", "RowFilter",
           "WriterClosed", "WriterStats"]

# Rows in, the rows to keep out; None keeps them all (the common case, without a copy).
RowFilter = Callable[[Sequence[Sequence[Any]]], "list[Sequence[Any]] | None"]
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


@dataclass(slots=True)
class _Submission:
    rows: Sequence[Sequence[Any]]
    future: asyncio.Future[None]
    forced: bool = False


@dataclass(slots=True)
class _Buffer:
    table: TableSpec
    submissions: list[_Submission] = field(default_factory=list)
    rows: int = 0


@dataclass(slots=True)
class _Batch:
    table: TableSpec
    submissions: list[_Submission]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    may_be_stored: bool = False  # a failed attempt may have stored it: no row can be taken back

    @property
    def rows(self) -> list[Sequence[Any]]:
        return [row for submission in self.submissions for row in submission.rows]

    @property
    def row_count(self) -> int:
        return sum(len(s.rows) for s in self.submissions)


_Holder = _Batch | _Buffer


@dataclass(slots=True)
class WriterStats:
    rows_written: int = 0
    batches_written: int = 0
    insert_failures: int = 0
    consecutive_failures: int = 0
    pending_rows: int = 0
    rows_rejected: Counter[str] = field(default_factory=Counter)  # by table
    rows_filtered: int = 0  # dropped right before their insert: erased or superseded meanwhile
    last_error: str = ""
    last_insert_seconds: float = 0.0
    insert_seconds: float = 0.0  # total time spent in successful inserts

    def snapshot(self) -> dict[str, Any]:
        """The figures /-/health and /-/metrics show."""
        return {"pending_rows": self.pending_rows, "rows_written": self.rows_written,
                "batches_written": self.batches_written, "insert_failures": self.insert_failures,
                "rows_rejected": dict(self.rows_rejected), "rows_filtered": self.rows_filtered,
                "insert_seconds": round(self.insert_seconds, 3)}


class BatchWriter:
    def __init__(self, db: Database, *, batch_size: int = 10_000, flush_interval: float = 1.0,
                 max_pending: int = 200_000, max_backoff: float = 5.0) -> None:
        self._db = db
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._max_backoff = max_backoff
        self._buffers: dict[str, _Buffer] = {}
        self._retry: deque[_Batch] = deque()
        self._wake = asyncio.Event()  # a buffer is full, or the writer is closing
        self._stop = asyncio.Event()
        self._flush_lock = asyncio.Lock()  # one flush at a time: the timer's, flush()'s or close()'s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse-writer")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False  # close() is done: not even a forced row is taken now
        self._filters: dict[str, RowFilter] = {}
        self._inserting: _Batch | None = None  # the batch an insert is carrying right now
        self._insert_ended = asyncio.Event()  # set when that insert attempt has ended
        self._embedded = bool(getattr(getattr(db, "target", None), "embedded", False))
        self.stats = WriterStats()

    def filter_rows(self, table: TableSpec, keep: RowFilter | None) -> None:
        """Pass ``table``'s rows through ``keep`` right before each insert: rows that must no longer be
        stored (an erased visitor's, still buffered) are dropped there, whichever path brought them."""
        if keep is None:
            self._filters.pop(table.name, None)
        else:
            self._filters[table.name] = keep

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
            buffer = self._buffers[table.name] = _Buffer(table)
        buffer.submissions.append(_Submission(rows, future, force))
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
            found = self._find(table, future)
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
            if isinstance(holder, _Batch) and holder.may_be_stored:
                return Retraction.KEPT
            self._remove(holder, submission)
            _fail(future, NotDurable("taken back before any insert could store these rows"))
            return Retraction.TAKEN_BACK
        failure = None if future.cancelled() else future.exception()
        if isinstance(failure, MaybeStored):
            return Retraction.KEPT
        return Retraction.STORED if failure is None and not future.cancelled() else Retraction.TAKEN_BACK

    def _find(self, table: TableSpec, future: asyncio.Future[None]) -> tuple[_Holder, _Submission] | None:
        holders: list[_Holder] = [batch for batch in self._retry if batch.table.name == table.name]
        if (buffer := self._buffers.get(table.name)) is not None:
            holders.append(buffer)
        for holder in holders:
            for submission in holder.submissions:
                if submission.future is future:
                    return holder, submission
        return None

    def _remove(self, holder: _Holder, submission: _Submission) -> None:
        holder.submissions.remove(submission)
        self.stats.pending_rows -= len(submission.rows)
        if isinstance(holder, _Buffer):
            holder.rows -= len(submission.rows)
            if not holder.submissions:
                del self._buffers[holder.table.name]
        elif not holder.submissions:
            self._retry.remove(holder)

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
        while self._has_work() and time.monotonic() < deadline:
            if not await self._flush_once(raise_errors=False):
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
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
                _fail(submission.future, failure)
        if lost:
            log.error("writer stopped with %d rows that ClickHouse did not take (last error: %s)",
                      lost, self.stats.last_error)
        if maybe:
            log.error("%d of them may be stored all the same, and rows that follow them can no longer be "
                      "taken", maybe)
        self._retry.clear()
        self._buffers.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
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
            _fail(submission.future, MaybeStored("the writer stopped; an attempt may have stored these rows"))
        await asyncio.sleep(LAST_CALL)  # many turns of the loop: each waiter runs and submits its row
        with contextlib.suppress(Exception):  # TimeoutError included
            # Bounded: the writer's thread may still be held by an insert that never ended.
            async with asyncio.timeout(LAST_ATTEMPT):
                # Again while rows come: a forced row submitted during an attempt is tried too.
                while self._has_work() and await self._flush_once(raise_errors=False):
                    pass

    def _has_work(self) -> bool:
        return bool(self._retry) or bool(self._buffers)

    def _pending_batches(self) -> list[_Batch]:
        return [*self._retry, *(_Batch(b.table, b.submissions) for b in self._buffers.values())]

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
            self._cut_batches()
            while self._retry:
                if not await self._write_first(raise_errors=raise_errors):
                    return False
            return True

    def _cut_batches(self) -> None:
        """Move buffered submissions into batches of at most ``batch_size`` rows; forced ones apart, first."""
        first: list[_Batch] = []
        for buffer in self._buffers.values():
            forced = [one for one in buffer.submissions if one.forced]
            first += self._batches(buffer.table, forced)
            self._retry += self._batches(buffer.table, [one for one in buffer.submissions if not one.forced]
                                         if forced else buffer.submissions)
        self._retry.extendleft(reversed(first))
        self._buffers = {}

    def _batches(self, table: TableSpec, submissions: list[_Submission]) -> list[_Batch]:
        batches: list[_Batch] = []
        count = 0
        for submission in submissions:
            if not batches or count + len(submission.rows) > self._batch_size:
                batches.append(_Batch(table, []))
                count = 0
            batches[-1].submissions.append(submission)
            count += len(submission.rows)
        return batches

    async def _write_first(self, *, raise_errors: bool) -> bool:
        """Attempt the first batch; meanwhile ``retract`` knows which batch an insert is carrying."""
        batch, ended = self._retry[0], asyncio.Event()
        self._inserting, self._insert_ended = batch, ended
        try:
            return await self._attempt(batch, raise_errors=raise_errors)
        finally:
            self._inserting = None
            ended.set()

    async def _attempt(self, batch: _Batch, *, raise_errors: bool) -> bool:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        rows = batch.rows
        keep = self._filters.get(batch.table.name)
        if keep is not None and (kept := keep(rows)) is not None:
            self.stats.rows_filtered += len(rows) - len(kept)
            rows = kept
        try:
            if rows:
                await loop.run_in_executor(self._executor, self._db.insert, batch.table.name, rows,
                                           batch.table.columns, {"insert_deduplication_token": batch.token})
        except asyncio.CancelledError:
            # Abandoned (close ran out of time): the insert goes on in the writer's thread and may
            # store the rows at any moment.
            batch.may_be_stored = batch.may_be_stored or bool(rows)
            raise
        except Exception as exc:
            self.stats.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            if is_permanent(exc):
                self._isolate(batch, exc)
                return True
            batch.may_be_stored = batch.may_be_stored or may_have_stored(exc, embedded=self._embedded)
            self.stats.insert_failures += 1
            self.stats.consecutive_failures += 1
            log.warning("insert of %d rows into %s failed (%d in a row), will retry: %s", batch.row_count,
                        batch.table.name, self.stats.consecutive_failures, self.stats.last_error)
            if raise_errors:
                raise
            return False
        self._retry.popleft()
        self.stats.consecutive_failures = 0
        self.stats.last_insert_seconds = time.perf_counter() - started
        self.stats.insert_seconds += self.stats.last_insert_seconds
        self.stats.rows_written += len(rows)
        self.stats.batches_written += 1
        self.stats.pending_rows -= batch.row_count
        for submission in batch.submissions:
            if not submission.future.done():
                submission.future.set_result(None)
        return True

    def _isolate(self, batch: _Batch, exc: Exception) -> None:
        """A permanent failure: retry each submission alone, or reject the one that is bad."""
        self._retry.popleft()
        if len(batch.submissions) > 1:
            singles = [_Batch(batch.table, [one], f"{batch.token}-{i}", batch.may_be_stored)
                       for i, one in enumerate(batch.submissions)]
            self._retry.extendleft(reversed(singles))
            return
        [submission] = batch.submissions
        self.stats.pending_rows -= len(submission.rows)
        self.stats.rows_rejected[batch.table.name] += len(submission.rows)
        log.warning("ClickHouse cannot store %d row(s) for %s: %s", len(submission.rows), batch.table.name,
                    self.stats.last_error)
        _fail(submission.future, Rejected(f"{batch.table.name}: {type(exc).__name__}"))


def _fail(future: asyncio.Future[None], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # marked as seen: a caller that stopped waiting is not warned about it


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the ClickHouse writer stopped unexpectedly; rows are no longer flushed",
                  exc_info=task.exception())


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=timeout)
