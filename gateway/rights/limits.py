"""A per-consent-id request limit for the visitor's data endpoints.

Exports and erasures are expensive (a scan of one visitor's rows, a DELETE): a script holding one
cookie must not turn them into load. A fixed number of requests per id over a sliding window; the
table is bounded (oldest keys go first) and lives in memory only.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable


class PerKeyLimit:
    def __init__(self, limit: int = 10, window: float = 600.0, max_keys: int = 50_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._times: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def retry_after(self, key: Hashable, now: float) -> float:
        """0 when a request may go ahead now (and counts it); else the seconds to wait."""
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque(maxlen=self.limit)
            while len(self._times) > self.max_keys:
                self._times.popitem(last=False)
        else:
            self._times.move_to_end(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return times[0] + self.window - now
        times.append(now)
        return 0.0
