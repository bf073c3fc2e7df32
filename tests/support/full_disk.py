"""A gateway whose spool disk fills up: a small tmpfs, a ballast file, a client that records every answer.

Shared by the end-to-end test (``tests/e2e/test_full_disk.py``, short form) and the benchmark
(``benchmarks/full_disk.py``, long form). The gateway's data folder, and so its spool, is a tmpfs
of a few MiB; its ClickHouse is the stand-in, whose data stays on the ordinary disk (the gateway's
``GATEWAY_CLICKHOUSE_URL`` points at it, so nothing of ClickHouse lives under the data folder).
Mounting a tmpfs needs root (CAP_SYS_ADMIN): where it is refused, ``MountRefused`` says why and
the callers skip.

The hits are the fault tests' (``tests/support/load.py``): each carries a marker of its own, so
what was answered 2xx can be compared with what ClickHouse holds. Every 2xx must be stored, once
(no crash here, so not even an at-least-once duplicate), and no hit answered 503 may be stored.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx

from gateway.config.settings import FIELDS_BY_NAME
from tests.e2e.gateway_process import Gateway, running_gateway
from tests.support.clickhouse_standin import running_standin
from tests.support.load import HitLoad, grant
from tests.support.tmpfs import Ballast, MountRefused, free_bytes, tmpfs

__all__ = ["METRICS_TOKEN", "MountRefused", "Round", "Setup", "gateway_on_tmpfs", "health", "outage_round"]

METRICS_TOKEN = "full-disk-operator-token-0123456789abcdef"


def health(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    """``/-/health`` as the operator sees it (with the metrics token: the details)."""
    response = httpx.get(f"{gateway.base}/-/health", timeout=10,
                         headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    return response.status_code, response.json()


@dataclass
class Setup:
    gateway: Gateway
    clickhouse_url: str
    disk: Path          # the tmpfs
    cookies: dict[str, str]


@contextmanager
def gateway_on_tmpfs(tmp_path: Path, city_db: Path, *, size: int, port: int | None = None,
                     standin_port: int = 0, flush_interval: float = 0.2) -> Iterator[Setup]:
    """The real ``consent-gateway serve`` (the demo site) with its data folder on a tmpfs of ``size``
    bytes, and a visitor's analytics grant. Raises MountRefused where no tmpfs can be mounted.
    Ports: by default a free one for the gateway, and port 0 (the one the kernel picks) for the
    stand-in, so that runs side by side never collide."""
    with ExitStack() as stack:
        disk = stack.enter_context(tmpfs(tmp_path / "disk", size))
        standin = stack.enter_context(running_standin(tmp_path / "clickhouse", port=standin_port))
        url = f"http://default:@{standin.host}:{standin.port}/fulldisk"
        env = {"GATEWAY_DATA_DIR": str(disk / "data"), "GATEWAY_CLICKHOUSE_URL": url,
               "GATEWAY_GEOIP_CITY_DB": str(city_db), "GATEWAY_SECRET_KEYS": "s" * 40,
               "GATEWAY_WRITER_FLUSH_INTERVAL": str(flush_interval), "GATEWAY_LOG_LEVEL": "WARNING"}
        if "metrics_token" in FIELDS_BY_NAME:
            env["GATEWAY_METRICS_TOKEN"] = METRICS_TOKEN
        gateway = stack.enter_context(running_gateway(env, tmp_path / "serve.log", port=port))
        yield Setup(gateway, url, disk, grant(gateway.base))


def until_acknowledged(load: HitLoad, more: int, timeout: float) -> float | None:
    """Seconds until ``load`` has ``more`` further hits answered 2xx; None after ``timeout``."""
    start, target = time.monotonic(), load.acknowledged + more
    while load.acknowledged < target:
        if time.monotonic() - start > timeout:
            return None
        time.sleep(0.005)
    return time.monotonic() - start


def spooled_bytes(disk: Path) -> int:
    return sum(path.stat().st_size for path in (disk / "data" / "spool").glob("*/spool-*.log"))


@dataclass
class Round:
    """What one round of the outage did; times in seconds."""

    free: int                       # what the ballast left free for phase 1
    bytes_per_hit: float
    phase1_target: int              # hits to acknowledge in phase 1: three times what the free space holds
    phase1_acknowledged: int = 0
    phase1_refused: int = 0         # 503s in phase 1 (the spool's own acknowledged data filled the disk)
    self_recovery: float | None = None  # phase 1: from the first 503 to the next 2xx
    phase2_refused: int = 0         # 503s while the ballast held the disk
    health_seen: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # while refusing
    recovery: float | None = None   # phase 2: from the ballast's deletion to the next 2xx
    after_recovery: float | None = None  # time to acknowledge ``settle`` more hits after it


def outage_round(setup: Setup, load: HitLoad, *, free: int, refused: int, timeout: float,
                 settle: int = 50) -> Round:
    """With ``load`` running, two outages of the spool's disk:

    1. a ballast leaves ``free`` bytes, and the spool fills them with hits ClickHouse then takes:
       the spool must free its acknowledged segments and go on by itself (before issue 16, it
       answered 503 until a restart);
    2. the ballast takes every free byte and keeps taking what frees up: hits get 503 (never 500)
       until the ballast is deleted; then they must be answered 2xx again, without a restart.
    Health is read during phase 2's refusals. ``timeout`` bounds each wait.
    """
    before, hits = spooled_bytes(setup.disk), load.acknowledged
    load.wait_for(hits + 100, timeout)
    per_hit = max(200.0, (spooled_bytes(setup.disk) - before) / max(1, load.acknowledged - hits))
    ballast = Ballast(setup.disk / "ballast")
    try:
        ballast.fill(leave=free)
        left = free_bytes(setup.disk)
        result = Round(free=left, bytes_per_hit=per_hit, phase1_target=int(3 * left / per_hit))
        start, refused_before = load.acknowledged, load.result.statuses[503]
        first_refusal: float | None = None
        deadline = time.monotonic() + timeout
        while load.acknowledged - start < result.phase1_target and time.monotonic() < deadline:
            if first_refusal is None and load.result.statuses[503] > refused_before:
                first_refusal = time.monotonic()
                result.self_recovery = until_acknowledged(load, 1, deadline - time.monotonic())
            time.sleep(0.005)
        result.phase1_acknowledged = load.acknowledged - start
        result.phase1_refused = load.result.statuses[503] - refused_before
        ballast.fill()
        ballast.top_up()
        refused_before = load.result.statuses[503]
        deadline = time.monotonic() + timeout
        while load.result.statuses[503] - refused_before < refused and time.monotonic() < deadline:
            time.sleep(0.01)
        while time.monotonic() < deadline and not any(_refusing(body) for _, body in result.health_seen):
            result.health_seen.append(health(setup.gateway))
            time.sleep(0.02)
        result.phase2_refused = load.result.statuses[503] - refused_before
    finally:
        ballast.delete()
    result.recovery = until_acknowledged(load, 1, timeout)
    if result.recovery is not None:
        result.after_recovery = until_acknowledged(load, settle, timeout)
    return result


def _refusing(body: dict[str, Any]) -> bool:
    spool = body.get("checks", {}).get("spool", {})
    return body.get("status") == "degraded" and spool.get("status") == "refusing"
