"""Introspection under ``/-/``: health for load balancers and monitoring, and the version."""

from __future__ import annotations

import asyncio
import platform
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway import __version__

CLICKHOUSE_TIMEOUT = 2.0


async def health(request: Request) -> JSONResponse:
    """``ok`` when all is well; ``degraded`` with 200 without GeoIP, with 503 without ClickHouse."""
    resources = request.app.state.resources
    checks: dict[str, dict[str, Any]] = {}
    try:
        latency = await _ping(request.app.state.health_ping_lock, resources.db)
        checks["clickhouse"] = {"status": "ok", "mode": "embedded" if resources.db.target.embedded
                                else "server", "latency_ms": round(latency * 1000, 2)}
    except Exception as exc:  # any failure to answer means down; the reason goes to the operator
        checks["clickhouse"] = {"status": "down", "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    if resources.geo is None:
        checks["geoip"] = {"status": "missing", "path": str(resources.settings.city_db_path),
                           "hint": "run `consent-gateway geoip install`"}
    else:
        checks["geoip"] = {"status": "ok", **resources.geo.describe()}
    writer = resources.writer
    stats = writer.stats
    writer_status = "stopped" if not writer.running else "retrying" if stats.consecutive_failures else "ok"
    checks["writer"] = {"status": writer_status, **stats.snapshot()}
    required_down = checks["clickhouse"]["status"] != "ok"
    all_ok = all(c["status"] == "ok" for c in checks.values())
    # The contract is "ok" | "degraded"; the HTTP status tells a load balancer whether to send traffic.
    status = "ok" if all_ok else "degraded"
    return JSONResponse({"status": status, "checks": checks}, status_code=503 if required_down else 200,
                        headers={"Cache-Control": "no-store"})


async def _ping(lock: asyncio.Lock, db: Any) -> float:
    """One ping in flight at a time: during an outage, each probe would otherwise strand a thread
    waiting on ClickHouse; later probes wait for the running one (or time out) instead."""
    async with asyncio.timeout(CLICKHOUSE_TIMEOUT):
        async with lock:
            result: float = await asyncio.to_thread(db.ping)
            return result


async def version(request: Request) -> JSONResponse:
    scripts = request.app.state.scripts
    return JSONResponse({"name": "consent-gateway", "version": __version__,
                         "python": platform.python_version(),
                         "scripts": {name: f"/{asset.versioned_name}" for name, asset in scripts.items()}})
