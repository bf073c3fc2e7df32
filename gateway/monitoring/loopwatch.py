"""The event loop's stalls, per process: how late a timer due every 2 ms gets to run.

One coroutine answers every request of a worker, so a loop turn that takes long (a CPU-heavy step,
a blocking call, thousands of futures settled at once) delays every request in flight. ``LoopWatch``
asks the loop to run it ``INTERVAL`` after each of its runs and records how late it ran: a turn that
blocks for D shows as a lateness of D less at most ``INTERVAL`` (the tick fell due somewhere inside
the turn). Time the process waits for a CPU counts too: to the requests it is a stall all the same.
It keeps a histogram of its lateness with a few fixed buckets (``BUCKETS``) and the longest one since
it started.

A plain callback re-armed with ``loop.call_later``, not a task sleeping in a loop: no future, no task
step and no extra loop turn per tick. A tick costs ~3 µs of CPU on uvloop and a busy loop runs at most
500 of them a second (~0.15 % of a core); an idle worker pays for waking up 500 times a second (~2 % of
a core on the 2-core benchmark VM, where every 1 ms cost ~4 %: hence 2 ms, not finer). Lateness is
read on ``time.perf_counter``, not ``loop.time()``: uvloop's clock counts whole milliseconds, which
would round every stall to one.

``/-/metrics`` shows its ``sample()`` (section ``loop``) as ``consent_gateway_loop_lag_seconds`` (a
histogram, summed over the workers like the others) and ``consent_gateway_loop_lag_max_seconds``
(the longest stall of any live worker: gateway/monitoring/share.py combines it with ``max``). The
app starts it in its lifespan and stops it there. Imports nothing of the gateway.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from typing import Any

INTERVAL = 0.002  # seconds between ticks: the finest stall it can tell apart (each costs an idle worker CPU)
# Upper bounds in seconds (Prometheus's ``le``; +Inf is added): an idle or healthy loop runs its ticks
# well within 1 ms; issue 19's target is no turn over 5 ms.
BUCKETS = (1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1.0)
SECTION = "loop"
LAG = "lag"  # the histogram's key in the section: {"calls", "total_ms", "buckets": {le: n}}
MAX = "max_lag_ms"  # the longest lateness since the watch started, a level combined with max


class LoopWatch:
    """Started on a running loop, it ticks every ``interval`` seconds until stopped. Not thread-safe:
    used from its loop only (``sample`` reads plain numbers, so reading it from elsewhere is harmless)."""

    __slots__ = ("_bounds", "_counts", "_due", "_handle", "_interval", "_labels", "_longest", "_loop",
                 "_total")

    def __init__(self, interval: float = INTERVAL, bounds: tuple[float, ...] = BUCKETS) -> None:
        assert list(bounds) == sorted(set(bounds)), "bucket bounds must increase"
        self._interval = interval
        self._bounds = bounds
        self._labels = (*(repr(float(bound)) for bound in bounds), "+Inf")
        self._counts = [0] * len(self._labels)
        self._total = 0.0  # seconds of lateness, all ticks
        self._longest = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    @property
    def longest(self) -> float:
        """The longest lateness seen, in seconds."""
        return self._longest

    def start(self) -> None:
        """Watch the running loop (call from a coroutine on it)."""
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._due = time.perf_counter() + self._interval
        self._handle = self._loop.call_later(self._interval, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = time.perf_counter()
        # The loop may run a timer up to its clock's resolution early: that is no lateness.
        late = max(now - self._due, 0.0)
        self._counts[bisect_left(self._bounds, late)] += 1
        self._total += late
        if late > self._longest:
            self._longest = late
        # From now, not from the missed due time: after a stall, one late tick, not a burst of them.
        self._due = now + self._interval
        self._handle = loop.call_later(self._interval, self._tick)

    def sample(self) -> dict[str, Any]:
        """Plain numbers, JSON-able: ``{"loop": {"lag": {calls, total_ms, buckets}, "max_lag_ms"}}``;
        the histogram adds up across workers, ``max_lag_ms`` is a level (share.GAUGES)."""
        counts = list(self._counts)
        lag = {"calls": sum(counts), "total_ms": round(self._total * 1000, 6),
               "buckets": dict(zip(self._labels, counts, strict=True))}
        return {SECTION: {LAG: lag, MAX: round(self._longest * 1000, 6)}}
