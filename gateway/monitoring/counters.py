"""The per-process counters every package increments: what the gateway did and why it dropped things.

Expected outcomes (a missing consent, a forged cookie) are counted, not logged: they are normal
traffic. A counter has a name and a reason, never a label with personal data. Imports nothing, so
any layer may count; ``gateway.monitoring.metrics`` publishes the figures.
"""

from __future__ import annotations

from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self._counters: dict[str, Counter[str]] = {}

    def count(self, name: str, reason: str, amount: int = 1) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Counter()
        counter[reason] += amount

    def get(self, name: str, reason: str) -> int:
        return self._counters.get(name, Counter())[reason]

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {name: dict(sorted(counter.items())) for name, counter in sorted(self._counters.items())}
