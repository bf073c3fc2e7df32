"""One insert attempt of the writer's first batch, what its failure means, and the writer's figures.

Inserts run on the writer's own thread (a daemon: an insert that ClickHouse never answers must not
hold a stopping gateway past its timeout), so slow health checks cannot starve it; right before each,
the table's rows pass its filter (``BatchWriter.filter_rows``). Failures are of two kinds
(``gateway.storage.failures`` tells them apart):
- transient (ClickHouse down, network, timeouts, a missing table during a deploy): the batch stays
  first, to be retried with back-off under the same deduplication token, so a retry of an insert that
  did land is not stored twice; it is marked when the failed attempt may have stored it.
- permanent (a value the column cannot hold): the batch is split into its submissions, the good
  ones are written and only the bad one fails, with ``Rejected``. One bad row never blocks others.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from gateway.storage.clickhouse import Database
from gateway.storage.failures import Rejected, is_permanent, may_have_stored
from gateway.storage.writer_batches import Batch, Submission, fail

# Rows in, the rows to keep out; None keeps them all (the common case, without a copy).
RowFilter = Callable[[Sequence[Sequence[Any]]], "list[Sequence[Any]] | None"]
log = logging.getLogger("gateway.storage.writer")
SETTLE_SLICE = 256  # a stored batch's futures resolved per loop turn
P = ParamSpec("P")
T = TypeVar("T")


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


class InsertThread(Executor):
    """One daemon thread running its calls in order. Not a ThreadPoolExecutor: Python joins those
    threads at exit, so an insert hung on a ClickHouse that accepts and never answers would keep a
    stopping gateway alive until the read timeout, past GATEWAY_SHUTDOWN_TIMEOUT. Abandoned, its rows
    stay in the spool for the next start."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self._stopped = False
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if self._stopped:
            raise RuntimeError("the insert thread is stopped")
        future: Future[T] = Future()
        self._calls.put((future, lambda: fn(*args, **kwargs)))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._stopped = True
        if cancel_futures:
            while True:
                try:
                    call = self._calls.get_nowait()
                except queue.Empty:
                    break
                if call is not None:
                    call[0].cancel()
        self._calls.put(None)

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            future, work = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work())
            except BaseException as exc:  # handed to the caller, as an executor does
                future.set_exception(exc)


def _settle(submissions: Sequence[Submission]) -> None:
    for submission in submissions:
        if not submission.future.done():
            submission.future.set_result(None)


async def _settle_in_slices(submissions: Sequence[Submission]) -> None:
    """Resolve the futures of a stored batch SETTLE_SLICE at a time, a loop turn each: each resolution
    runs its callbacks (the spool's ack) on the loop, and 10,000 at once stalled every request ~30 ms."""
    for start in range(0, len(submissions), SETTLE_SLICE):
        if start:
            await asyncio.sleep(0)
        _settle(submissions[start:start + SETTLE_SLICE])


class Inserter:
    def __init__(self, db: Database, retry: deque[Batch], stats: WriterStats) -> None:
        self._db = db
        self._retry = retry  # the writer's batches, first to be attempted first
        self.stats = stats
        self.filters: dict[str, RowFilter] = {}  # by table name
        self._executor = InsertThread("clickhouse-writer")
        self._embedded = bool(getattr(getattr(db, "target", None), "embedded", False))

    async def attempt(self, batch: Batch, *, raise_errors: bool) -> bool:
        """Insert ``batch``, the first in ``retry``: taken off it once stored, split there when a row
        is bad for good; False (or the error, with ``raise_errors``) when a transient failure keeps it."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        rows = batch.rows
        keep = self.filters.get(batch.table.name)
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
        if len(batch.submissions) <= SETTLE_SLICE:
            _settle(batch.submissions)
        else:  # shielded: a close cutting it short would leave stored rows unacknowledged (replayed)
            await asyncio.shield(_settle_in_slices(batch.submissions))
        return True

    def _isolate(self, batch: Batch, exc: Exception) -> None:
        """A permanent failure: retry each submission alone, or reject the one that is bad."""
        self._retry.popleft()
        if len(batch.submissions) > 1:
            singles = [Batch(batch.table, [one], f"{batch.token}-{i}", batch.may_be_stored)
                       for i, one in enumerate(batch.submissions)]
            self._retry.extendleft(reversed(singles))
            return
        [submission] = batch.submissions
        self.stats.pending_rows -= len(submission.rows)
        self.stats.rows_rejected[batch.table.name] += len(submission.rows)
        log.warning("ClickHouse cannot store %d row(s) for %s: %s", len(submission.rows), batch.table.name,
                    self.stats.last_error)
        fail(submission.future, Rejected(f"{batch.table.name}: {type(exc).__name__}"))

    def close(self) -> None:
        """Let go of the writer's thread; an insert it still runs is abandoned."""
        self._executor.shutdown(wait=False, cancel_futures=True)
