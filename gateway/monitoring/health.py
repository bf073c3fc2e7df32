"""Introspection under ``/-/``: liveness, readiness, health for monitoring, and the version.

``/-/live`` is for a liveness probe: is this process worth keeping? Only a stopped writer says no.

``/-/ready`` answers one question for an orchestrator's readiness probe: may this instance take
traffic now? No (503 ``{"status": "not-ready"}``) only for what is this instance's own: its spool
refuses appends (a full disk, its byte cap) or its writer stopped. ClickHouse is every instance's:
were it to make instances not ready, an outage or a slow server would take every one out of the load
balancer at once, and the banner, the consent refusals and the hits the spool keeps through an
outage would all fail. So ClickHouse not answering, and a replay of an earlier run's hits still
going, are told to the operator (``waiting``) without changing the answer.

Anyone gets the status alone (``{"status": "ok"|"degraded"}``, and the HTTP status a load balancer
acts on) and the name and version; the checks behind the status (paths, ClickHouse's mode and
errors, writer and spool figures), the tracking hits dropped by reason (why a dashboard can stay
empty: bots, missing consent...) and the Python version are for the operator's token
(gateway/monitoring/operator_token.py).
"""

from __future__ import annotations

import asyncio
import platform
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway import __version__
from gateway.monitoring.operator_token import NO_STORE, Viewer, viewer
from gateway.web.accesslog import strip_queries

CLICKHOUSE_TIMEOUT = 2.0
# The counter of dropped hits (``DROPPED`` in gateway/ingest/outcomes.py, reasons ``Drop``), named
# here because this layer may not import the ingest package.
DROPPED = "hits_dropped"
DROPPED_HINT = ("'bot': crawlers, monitors and headless browsers (Playwright, Puppeteer, HeadlessChrome), "
                "dropped on purpose, so a site tested with them shows no visits (docs/tracking.md); "
                "'no-consent': the visitor had not accepted analytics")


async def health(request: Request) -> JSONResponse:
    """``ok`` when all is well; ``degraded`` with 200 without GeoIP or with a retrying writer, with 503
    while ClickHouse does not answer or the spool refuses hits (this instance answers hits with 503
    then, so a load balancer should send them elsewhere)."""
    seen = viewer(request)
    if isinstance(seen, JSONResponse):
        return seen
    checks = await _checks(request)
    unusable = checks["clickhouse"]["status"] != "ok" or checks["spool"]["status"] != "ok"
    status = "ok" if all(c["status"] == "ok" for c in checks.values()) else "degraded"
    body: dict[str, Any] = {"status": status}
    if seen is Viewer.OPERATOR:
        body["checks"] = checks
        body["hits_dropped"] = await _dropped(request)
    return JSONResponse(body, status_code=503 if unusable else 200, headers=NO_STORE)


async def live(request: Request) -> JSONResponse:
    """``/-/live``, for a liveness probe: 200 while this process answers and its writer runs; 503 once
    the writer stopped for good, which only a restart mends. Nothing shared (ClickHouse, the disk) is
    asked: a restart would not mend those, and every instance would be restarted at once."""
    if request.app.state.resources.writer.running:
        return JSONResponse({"status": "alive"}, headers=NO_STORE)
    return JSONResponse({"status": "stopped"}, status_code=503, headers=NO_STORE)


async def ready(request: Request) -> JSONResponse:
    """``/-/ready``: 200 when this instance can take traffic, 503 with the reasons (operator) when not."""
    seen = viewer(request)
    if isinstance(seen, JSONResponse):
        return seen
    resources = request.app.state.resources
    reasons = []
    if not resources.writer.running:
        reasons.append("writer: stopped")
    refusal: str | None = getattr(resources.spool, "refusal", None)
    if refusal is not None:
        reasons.append(f"spool: refusing ({refusal})")
    body: dict[str, Any] = {"status": "not-ready" if reasons else "ready"}
    if seen is Viewer.OPERATOR:
        waiting = await _waiting(request)
        body |= ({"reasons": reasons} if reasons else {}) | ({"waiting": waiting} if waiting else {})
    return JSONResponse(body, status_code=503 if reasons else 200, headers=NO_STORE)


async def _waiting(request: Request) -> list[str]:
    """What the instance waits for without refusing traffic: ClickHouse, the replay of an earlier run."""
    resources = request.app.state.resources
    waiting = []
    try:
        await request.app.state.health_ping(resources.db)
    except TimeoutError:
        if not resources.db.target.embedded:  # embedded: busy behind a long query, not down
            waiting.append(f"clickhouse: no answer within {CLICKHOUSE_TIMEOUT:g} s (hits are spooled)")
    except Exception as exc:  # the reason goes to the operator only, without the URL's query
        error = strip_queries(f"{type(exc).__name__}: {str(exc)[:200]}")
        waiting.append(f"clickhouse: {error} (hits are spooled)")
    if getattr(resources.spool, "replaying", False):
        waiting.append("spool: replaying the previous run's unacknowledged hits")
    return waiting


async def _dropped(request: Request) -> dict[str, Any]:
    """The tracking hits not stored, by reason, summed over the workers since the gateway started, as
    ``/-/metrics`` counts them (gateway/monitoring/share.py)."""
    total = await request.app.state.worker_samples.gather()
    return {"by_reason": total.get("counters", {}).get(DROPPED, {}),
            "counted": "since the gateway started, all its workers and sites together",
            "hint": DROPPED_HINT}


async def _checks(request: Request) -> dict[str, dict[str, Any]]:
    resources = request.app.state.resources
    checks: dict[str, dict[str, Any]] = {}
    try:
        latency = await request.app.state.health_ping(resources.db)
        checks["clickhouse"] = {"status": "ok", "mode": "embedded" if resources.db.target.embedded
                                else "server", "latency_ms": round(latency * 1000, 2)}
    except TimeoutError:
        if not resources.db.target.embedded:
            checks["clickhouse"] = {"status": "down", "error": f"no answer within {CLICKHOUSE_TIMEOUT:g} s"}
        else:  # in this process, one statement at a time: the ping waits behind a long query, busy
            checks["clickhouse"] = {"status": "ok", "mode": "embedded", "busy": True}
    except Exception as exc:  # any failure to answer means down; the reason goes to the operator
        # The driver's message carries the request URL: its query string holds query parameters.
        checks["clickhouse"] = {"status": "down",
                                "error": strip_queries(f"{type(exc).__name__}: {str(exc)[:300]}")}
    if resources.geo is None:
        checks["geoip"] = {"status": "missing", "path": str(resources.settings.city_db_path),
                           "hint": "run `consent-gateway geoip install`"}
    else:
        checks["geoip"] = {"status": "ok", **resources.geo.describe()}
    writer = resources.writer
    stats = writer.stats
    writer_status = "stopped" if not writer.running else "retrying" if stats.consecutive_failures else "ok"
    checks["writer"] = {"status": writer_status, **stats.snapshot()}
    proxies = request.app.state.trusted_proxies
    checks["proxies"] = {"status": "ok", "trusted": [str(n) for n in proxies.networks]}
    if proxies.misconfigured:  # a loopback or private peer, not listed, sent forwarding headers
        checks["proxies"] |= {"status": "misconfigured",
                              "peer": proxies.misconfigured_peer,  # the proxy's address, never a visitor's
                              "hint": "a loopback or private-network peer sends X-Forwarded-For or similar: "
                                      "list the reverse proxy's address (peer) in GATEWAY_TRUSTED_PROXIES"}
    # ``Spool.refusal``: None while appends are accepted, else why not (a full disk, the byte cap).
    refusal: str | None = getattr(resources.spool, "refusal", None)
    spool_figures = resources.spool.stats.snapshot()
    checks["spool"] = ({"status": "ok", **spool_figures} if refusal is None
                       else {"status": "refusing", "reason": refusal, **spool_figures})
    return checks


class Pinger:
    """One ping in flight at a time, whatever the probes: during an outage or behind a long embedded
    query a ping's thread stays blocked, and a probe that gave up waiting must not leave it to start
    another (each would hold one of the default executor's few threads, which password checks and
    queries need). A probe waits for the running ping, for ``CLICKHOUSE_TIMEOUT`` at most."""

    def __init__(self) -> None:
        self._running: asyncio.Future[float] | None = None

    async def __call__(self, db: Any) -> float:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(asyncio.to_thread(db.ping))
            # Read its outcome even when no probe waits any more: no "exception never retrieved".
            self._running.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.wait_for(asyncio.shield(self._running), CLICKHOUSE_TIMEOUT)

    @property
    def in_flight(self) -> bool:
        return self._running is not None and not self._running.done()


async def version(request: Request) -> JSONResponse:
    """Name, version and the versioned script URLs (public anyway: pages load them); Python's
    version for the operator only."""
    seen = viewer(request)
    if isinstance(seen, JSONResponse):
        return seen
    scripts = request.app.state.scripts
    body: dict[str, Any] = {"name": "consent-gateway", "version": __version__,
                            "scripts": {name: f"/{asset.versioned_name}" for name, asset in scripts.items()}}
    if seen is Viewer.OPERATOR:
        body["python"] = platform.python_version()
    return JSONResponse(body, headers=NO_STORE)
