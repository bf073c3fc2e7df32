"""Two gateway processes on one ClickHouse (the stand-in): a withdrawal on one, hits on the other.

Shared by the end-to-end test and by ``benchmarks/rights_propagation.py``: the visitor grants on
gateway A; a replaying client keeps sending hits with that grant cookie to gateway B every
``interval`` seconds; the visitor withdraws on A. Measured: how long until B refuses the cookie
(its ``consent_cookie.superseded`` counter moves), and what remains stored of the consent id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from gateway.storage.clickhouse import Database
from tests.e2e.gateway_process import Gateway
from tests.support.gateways import ORIGINS, running_fleet
from tests.support.operator import OPERATOR_JSON

ORIGIN = ORIGINS[1]  # site 1 of tests/support/gateways.py's CONFIG, policy version "v1"


@dataclass(frozen=True, slots=True)
class Withdrawal:
    consent_id: str
    propagation: float  # seconds from the withdrawal's answer on A to B's first refusal
    stored_before: int  # events of the id stamped before the withdrawal
    stored_after: int  # events of the id stamped at or after it: must be 0


@contextmanager
def two_gateways(tmp_path: Path, city_db: Path, ports: tuple[int, int]) -> Iterator[tuple[Gateway, Gateway,
                                                                                          Database]]:
    with running_fleet(tmp_path, city_db, ports, database="two") as fleet:
        yield fleet.gateways[0], fleet.gateways[1], fleet.db


def superseded(gateway: Gateway) -> int:
    counters = httpx.get(f"{gateway.base}/-/metrics", timeout=5, headers=OPERATOR_JSON).json()["counters"]
    return int(counters.get("consent_cookie", {}).get("superseded", 0))


def withdraw_while_replaying(a: Gateway, b: Gateway, db: Database, *, interval: float = 0.02,
                             after: float = 3.0, erase: bool = False) -> Withdrawal:
    """``erase``: the visitor erases their data (DELETE /consent/data) instead of withdrawing; then
    nothing of the id may remain, from before or after."""
    visitor = httpx.Client(base_url=a.base, headers={"Origin": ORIGIN}, timeout=10)
    consent_id = visitor.post("/consent?site=1", json={"categories": ["analytics"],
                                                       "policy_version": "v1"}).json()["consent_id"]
    replayer = httpx.Client(base_url=b.base, headers={"Origin": ORIGIN}, cookies=dict(visitor.cookies),
                            timeout=10)
    stop = threading.Event()

    def replay() -> None:
        n = 0
        while not stop.is_set():
            replayer.get(f"/matomo.php?idsite=1&rec=1&url={ORIGIN}/p{n}")
            n += 1
            time.sleep(interval)

    baseline = superseded(b)
    thread = threading.Thread(target=replay, daemon=True)
    thread.start()
    try:  # the replaying thread stops however this ends: it must not go on through later tests
        time.sleep(1.2)  # hits stored under the grant, which must stay
        answer = visitor.delete("/consent/data?site=1" if erase else "/consent?site=1")
        assert answer.status_code == 200, (answer.status_code, answer.text[:300])
        withdrawn = time.monotonic()
        propagation = float("inf")
        while time.monotonic() - withdrawn < after:
            if propagation == float("inf") and superseded(b) > baseline:
                propagation = time.monotonic() - withdrawn
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    time.sleep(1.5)  # B's writer flushes and its poll purges
    (withdrawal_ts,) = db.query("SELECT max(ts) FROM consent_log WHERE consent_id = {c:UUID} "
                                "AND action IN ('withdraw', 'erase')", {"c": consent_id})[0]
    counts = db.query("SELECT countIf(ts < {w:DateTime64(3)}), countIf(ts >= {w:DateTime64(3)}) FROM events "
                      "WHERE consent_id = {c:UUID}", {"c": consent_id, "w": withdrawal_ts})[0]
    return Withdrawal(consent_id, propagation, int(counts[0]), int(counts[1]))
