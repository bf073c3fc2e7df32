"""``/-/metrics``, the operator's view of the counters (gateway/monitoring/counters.py).

Counters and latency histograms live per process; ``/-/metrics`` answers with the sum over every
worker of the run (gateway/monitoring/share.py), in Prometheus's text format, or as JSON for ``Accept:
application/json``. It needs the operator token (gateway/monitoring/operator_token.py).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.monitoring.operator_token import NO_STORE, require_operator
from gateway.monitoring.prometheus import CONTENT_TYPE, render
from gateway.monitoring.share import Sample


def local_sample(state: Any) -> Sample:
    """This process's figures: counters, writer, spool, and the latency histograms of the ingest steps
    (``steps``) and of whole tracking requests by outcome (``hit``): calls, total_ms and per-bucket
    counts, plain numbers that ``share.add`` sums over workers (the means are worked out after)."""
    resources = state.resources
    pipeline = getattr(state, "pipeline", None)
    spool = resources.spool
    # ``Spool.refusal``: None while appends are accepted.
    refusing = int(getattr(spool, "refusal", None) is not None)
    timer = pipeline.timer if pipeline is not None else None
    return {"counters": state.metrics.snapshot(), "writer": resources.writer.stats.snapshot(),
            "spool": spool.stats.snapshot() | {"refusing": refusing},
            "steps": timer.snapshot() if timer is not None else {},
            "hit": timer.hits.snapshot() if timer is not None else {}}


async def metrics_view(request: Request) -> Response:
    refused = require_operator(request)
    if refused is not None:
        return refused
    total = await request.app.state.worker_samples.gather()
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(total, headers=NO_STORE)
    return Response(render(total), media_type=CONTENT_TYPE, headers=NO_STORE)
