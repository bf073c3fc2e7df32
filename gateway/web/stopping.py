"""When a stop was asked for, so that a stopping gateway keeps to ``GATEWAY_SHUTDOWN_TIMEOUT``.

On SIGTERM (Kubernetes, systemd, Docker) or Ctrl-C, uvicorn stops accepting connections, lets the
requests in flight finish (for up to the timeout: ``serve`` passes it as
``timeout_graceful_shutdown``), then runs the app's shutdown: the spool writes what is queued, the
writer inserts what it holds and the spool records what ClickHouse took. That shutdown gets what is
left of the same timeout, counted from the signal, so the whole stop fits in it (plus the writer's
last attempt, ``LAST_ATTEMPT``, and ``FLOOR``). An insert still under way then is abandoned on its
daemon thread; what is not inserted in time stays in the spool and is replayed at the next start: a
stop never loses an answered hit (one abandoned insert that lands after all is stored twice, as after
a crash).

uvicorn installs its own handlers before the app starts; ``StopClock.watch`` wraps them, from the
main thread only (an app under a test client runs elsewhere and has no signals to watch).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)
Handler = Callable[[int, FrameType | None], Any]
FLOOR = 1.0  # seconds the shutdown gets however late it starts: enough to record the spool's acks


class StopClock:
    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self.asked_at: float | None = None

    def watch(self) -> None:
        """Note the moment a stop signal arrives, then let uvicorn's handler do its work."""
        if threading.current_thread() is not threading.main_thread():
            return
        for number in SIGNALS:
            previous = signal.getsignal(number)
            if not callable(previous):  # not uvicorn's: the default action, or ignored
                continue
            signal.signal(number, self._noting(previous))

    def _noting(self, previous: Handler) -> Handler:
        def handler(number: int, frame: FrameType | None) -> Any:
            if self.asked_at is None:
                self.asked_at = self._clock()
            return previous(number, frame)
        return handler

    def left(self) -> float:
        """Seconds the shutdown may still take (at least ``FLOOR``)."""
        spent = 0.0 if self.asked_at is None else self._clock() - self.asked_at
        return max(FLOOR, self.timeout - spent)
