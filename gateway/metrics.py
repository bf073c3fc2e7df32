"""Counters of what the gateway did and why it dropped things, and ``/-/metrics``, the operator's view.

Expected outcomes (a missing consent, a forged cookie) are counted, not logged: they are normal
traffic. Counters live per process; ``/-/metrics`` answers with the sum over every worker of the
run (gateway/metrics_share.py), in Prometheus's text format, or as JSON for ``Accept:
application/json``. It needs the operator token (gateway/operator_token.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.metrics_share import Sample
from gateway.operator_token import NO_STORE, require_operator
from gateway.prometheus import CONTENT_TYPE, render


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


def local_sample(state: Any) -> Sample:
    """This process's figures: counters, writer, spool and step timings."""
    resources = state.resources
    pipeline = getattr(state, "pipeline", None)
    spool = resources.spool
    # ``Spool.refusal``: None while appends are accepted.
    refusing = int(getattr(spool, "refusal", None) is not None)
    steps = pipeline.timer.snapshot() if pipeline is not None else {}
    return {"counters": state.metrics.snapshot(), "writer": resources.writer.stats.snapshot(),
            "spool": spool.stats.snapshot() | {"refusing": refusing},
            # The mean is no count: worked out again from the summed calls and time.
            "steps": {step: {"calls": f["calls"], "total_ms": f["total_ms"]} for step, f in steps.items()}}


async def metrics_view(request: Request) -> Response:
    refused = require_operator(request)
    if refused is not None:
        return refused
    total = await request.app.state.worker_samples.gather()
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(total, headers=NO_STORE)
    return Response(render(total), media_type=CONTENT_TYPE, headers=NO_STORE)
