"""Counters of what the gateway did and why it dropped things, for ``/-/metrics``.

Expected outcomes (a missing consent, a forged cookie) are counted, not logged: they are normal
traffic. Counters are per process; a deployment with several workers sums them in its monitoring.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


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


async def metrics_view(request: Request) -> JSONResponse:
    resources: Any = request.app.state.resources
    pipeline = getattr(request.app.state, "pipeline", None)
    body = {"counters": request.app.state.metrics.snapshot(), "writer": resources.writer.stats.snapshot(),
            "spool": resources.spool.stats.snapshot(),
            "steps": pipeline.timer.snapshot() if pipeline is not None else {}}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
