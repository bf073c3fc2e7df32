"""Warnings an operator needs once, not on every request: one line per key, bounded and rate-limited.

A set-up mistake (a page on an origin its site did not configure, a page cross-site with the gateway)
shows on every request it touches, and those requests choose the key (their Origin header). So a
``WarnOnce`` remembers at most ``max_keys`` keys, then says once that it stops and logs no more of its
kind until the process restarts; and it writes at most ``per_minute`` lines in any minute, turning the
rest away without remembering their keys, so that a real mistake drowned in a flood is still logged
later. Whatever clients send, a ``WarnOnce`` writes at most ``max_keys + 1`` lines per process, and
its memory is ``max_keys`` keys.

``shown`` quotes an untrusted value for a log line: cut short, with its control characters escaped.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Hashable

SHOWN_CHARS = 100
WINDOW = 60.0  # seconds: the rate is per minute


def shown(value: str, limit: int = SHOWN_CHARS) -> str:
    """``value`` for a log line, quoted by ``repr`` (a newline in it cannot forge a line of its own)."""
    return repr(value[:limit]) + ("..." if len(value) > limit else "")


class WarnOnce:
    """One kind of warning, in one process. Not thread-safe: used from the event loop only."""

    def __init__(self, logger: logging.Logger, kind: str, *, max_keys: int = 256, per_minute: int = 10,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.kind = kind  # names these warnings in the line that says no more will come
        self.max_keys = max_keys
        self.per_minute = per_minute
        self.clock = clock
        self.turned_away = 0  # lines not written for the rate (their keys may have one later)
        self._seen: set[Hashable] = set()
        self._recent: deque[float] = deque()  # when the lines of the last minute were written

    @property
    def remembered(self) -> int:
        return len(self._seen)

    @property
    def full(self) -> bool:
        return len(self._seen) >= self.max_keys

    def warn(self, key: Hashable, message: str, *args: object) -> bool:
        """Log ``message % args`` as a WARNING unless ``key`` had its line, the keys are all spent or
        this minute's lines are; True when logged."""
        if key in self._seen or self.full:
            return False
        now = self.clock()
        while self._recent and now - self._recent[0] >= WINDOW:
            self._recent.popleft()
        if len(self._recent) >= self.per_minute:
            self.turned_away += 1
            return False
        self._recent.append(now)
        self._seen.add(key)
        self.logger.warning(message, *args)
        if self.full:
            self.logger.warning("%s: %d logged, the most one process remembers: no more are logged until "
                                "the gateway restarts", self.kind, self.max_keys)
        return True
