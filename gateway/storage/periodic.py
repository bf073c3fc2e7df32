"""Background work on the database: a blocking job run in a thread at start, then every so often,
until the process stops (the retention sweep, the visit summary's builder).

The job runs in a thread because a statement blocks (embedded chDB holds its caller for the whole
statement). A thread cannot be cancelled, so stopping is cooperative: ``stop()`` sets a flag the job
reads between statements (``Guarded`` reads it before each one), then waits a few seconds for the
statement under way, so the app does not close the database under it. An exception raised once
stopping is the stop's doing (a statement refused, a client closed): it is neither logged nor
reported as a failure. Runs are spread by a random ``jitter`` around ``every``, so the processes of a
deployment started together do not all query at the same moment for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
STOP_WAIT = 5.0  # seconds stop() waits for the statement under way; past it, the app stops anyway
StopFlag = Callable[[], bool]


def first_line(exc: BaseException) -> str:
    """An error's first line, capped: what a background job's log line says of a failed statement."""
    return str(exc).splitlines()[0][:300] if str(exc) else ""


class Stopped(Exception):
    """The process is stopping: no further statement is sent."""


class Guarded:
    """A database whose every statement first checks the stop flag: a job stopped mid-way sends
    nothing after the statement under way (``Stopped`` instead)."""

    def __init__(self, db: Any, stopped: StopFlag) -> None:
        self._db, self.stopped = db, stopped

    def _check(self) -> None:
        if self.stopped():
            raise Stopped

    def mutation_table(self, table: str) -> str:
        return str(self._db.mutation_table(table))

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        self._check()
        return self._db.command(sql, parameters)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self._check()
        rows: list[tuple[Any, ...]] = self._db.query(sql, parameters)
        return rows

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str],
               settings: dict[str, Any] | None = None) -> None:
        self._check()
        self._db.insert(table, rows, columns, settings)


class Periodic(Generic[T]):
    """Runs ``job(stopped)`` in a thread at ``start()``, then every ``every`` seconds (± ``jitter``, a
    fraction) after the previous run ended; ``done(result)`` or ``failed(exc)`` on the event loop."""

    def __init__(self, name: str, job: Callable[[StopFlag], T], done: Callable[[T], None],
                 failed: Callable[[Exception], None], every: float, *, jitter: float = 0.0,
                 stop_wait: float = STOP_WAIT) -> None:
        self.name, self._job, self._done, self._failed = name, job, done, failed
        self._every, self._jitter, self._stop_wait = every, jitter, stop_wait
        self._stopping = threading.Event()  # read by the job's thread
        self._wake = asyncio.Event()  # ends the pause between runs
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    @property
    def stopped(self) -> StopFlag:
        return self._stopping.is_set

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    def pause(self) -> float:
        """Seconds from the end of a run to the next."""
        return self._every * (1 + random.uniform(-self._jitter, self._jitter))  # noqa: S311 - no secret

    async def stop(self, budget: float | None = None) -> None:
        """Ask the job to stop and wait (``stop_wait`` at most, or the shutdown's ``budget`` if less)
        for its statement under way, so that the database is not closed under it. One that outlasts the
        wait ends on its own; none follows."""
        self._stopping.set()
        self._wake.set()
        if self._task is None:
            return
        wait = self._stop_wait if budget is None else min(self._stop_wait, budget)
        _, late = await asyncio.wait({self._task}, timeout=wait)
        if late:
            log.warning("%s: stopped while a statement still runs", self.name)
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                result = await asyncio.to_thread(self._job, self._stopping.is_set)
            except Exception as exc:  # the job catches its own; this keeps the task alive regardless
                if not self._stopping.is_set():  # else the stop's doing: a statement refused or cut off
                    self._failed(exc)
            else:
                self._done(result)
            self.runs += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.pause())
