"""Story: the operator monitors ``serve --workers 2`` on a ClickHouse server (the stand-in) through an
outage; strangers learn the status only, and the log names no consent id or dashboard filter.

Scrapes reach a worker at random: each answer must be the sum over both workers. While ClickHouse is
down, the proof API and a filtered dashboard query fail over the network, where urllib3 logs the
URL it tried, query parameters (``param_cid=...``) included.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from gateway.web.accesslog import QUERY_REMOVED
from tests.e2e.gateway_process import Gateway, running_gateway
from tests.monitoring.test_metrics import parse
from tests.support.clickhouse_standin import StandIn, running_standin
from tests.support.operator import METRICS_TOKEN, OPERATOR, OPERATOR_JSON

ORIGIN = "https://shop.example.com"
SITE_TOKEN = "site-token-of-the-shop-0123456789"
FILTER_VALUE = "secret-campaign-4711"
HITS = 200
CONFIG = f"""
[[sites]]
id = 1
name = "Shop"
origins = ["{ORIGIN}"]
policy_version = "v1"
token = "{SITE_TOKEN}"
"""


@pytest.fixture
def setup(tmp_path: Path, city_db: Path) -> Iterator[tuple[Gateway, StandIn]]:
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG)
    with running_standin(tmp_path / "clickhouse") as standin:
        env = {"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_CONFIG": str(config),
               "GATEWAY_CLICKHOUSE_URL": f"http://default:@{standin.host}:{standin.port}/shop",
               "GATEWAY_GEOIP_CITY_DB": str(city_db), "GATEWAY_SECRET_KEYS": "s" * 40,
               "GATEWAY_METRICS_TOKEN": METRICS_TOKEN, "GATEWAY_WRITER_FLUSH_INTERVAL": "0.2"}
        with running_gateway(env, tmp_path / "serve.log", workers=2) as gateway:
            yield gateway, standin


def scrape(gateway: Gateway) -> dict[str, Any]:
    answer = httpx.get(f"{gateway.base}/-/metrics", headers=OPERATOR_JSON, timeout=10)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def hit(gateway: Gateway, number: int) -> int:
    """One hit on a connection of its own (so that both workers' accept() take some), by hand: an
    HTTP client per request would spend more time building its TLS context than the gateway answering."""
    host, port = gateway.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"GET /matomo.php?idsite=1&rec=1&url={ORIGIN}/page-{number} HTTP/1.1\r\n"
                           f"Host: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_two_workers_are_scraped_as_one_and_an_outage_leaks_nothing(
        setup: tuple[Gateway, StandIn]) -> None:
    gateway, standin = setup
    until(lambda: sum(w["live"] for w in scrape(gateway)["workers"].values()) == 2, "two live workers")
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda n: hit(gateway, n), range(HITS)))
    assert set(statuses) <= {200, 204}, statuses

    def received() -> set[float]:  # several scrapes, each answered by either worker
        return {parse(httpx.get(f"{gateway.base}/-/metrics", headers=OPERATOR, timeout=10).text)[
            ("consent_gateway_hits_total", (("reason", "received"),))] for _ in range(6)}

    until(lambda: received() == {HITS}, f"every scrape sums to {HITS}", timeout=10)
    workers = scrape(gateway)["workers"]
    split = [w["counters"].get("hits", {}).get("received", 0) for w in workers.values()]
    print(f"{HITS} hits, per worker: {split}")
    assert sum(split) == HITS and len(split) == 2 and min(split) > 0  # each scrape summed both

    with httpx.Client(base_url=gateway.base, timeout=10) as visitor:
        grant = visitor.post("/consent?site=1", json={"categories": ["analytics"], "policy_version": "v1"},
                             headers={"Origin": ORIGIN})
        assert grant.status_code == 200, grant.text
        consent_id = grant.json()["consent_id"]
    standin.stop()
    site = {"Authorization": f"Bearer {SITE_TOKEN}"}
    proof = httpx.get(f"{gateway.base}/api/consents/{consent_id}", headers=site, timeout=30)
    assert proof.status_code == 503
    stats = httpx.get(f"{gateway.base}/dashboard/1.json", params={"utm_campaign": FILTER_VALUE}, headers=site,
                      timeout=30)
    assert stats.status_code == 503
    public = httpx.get(f"{gateway.base}/-/health", timeout=10)
    assert public.status_code == 503 and public.json() == {"status": "degraded"}
    operator = httpx.get(f"{gateway.base}/-/health", headers=OPERATOR, timeout=10).json()
    assert operator["checks"]["clickhouse"]["status"] == "down"

    time.sleep(0.5)  # the log lines of the last requests
    log = gateway.log
    assert "GET /api/consents/{consent_id} 503" in log
    assert QUERY_REMOVED in log  # urllib3 did warn about the URLs it retried, cut
    for leak in (consent_id, FILTER_VALUE, "param_", str(standin.port) + "/?"):
        assert leak not in log, leak
