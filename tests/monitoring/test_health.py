"""``/-/health``, ``/-/ready`` and ``/-/version`` as a load balancer, a stranger and the operator see them."""

from __future__ import annotations

import json
import platform
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from gateway import __version__
from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.monitoring import health
from gateway.storage.migrations import MigrationError
from gateway.storage.spool import Spool
from tests.support.operator import OPERATOR

DEMO_ORIGIN = "http://localhost:8080"  # the demo site's, site 1 of a gateway without a config file
HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/131.0.0.0 Safari/537.36")  # Playwright's and Puppeteer's default


def test_anyone_gets_the_status_alone(client: TestClient, city_db: Path) -> None:
    response = client.get("/-/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"
    for internal in (str(city_db), platform.python_version(), "clickhouse", "embedded", "rows", "latency"):
        assert internal not in response.text


def test_the_operator_gets_the_checks(client: TestClient) -> None:
    response = client.get("/-/health", headers=OPERATOR)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["clickhouse"]["status"] == "ok"
    assert body["checks"]["clickhouse"]["mode"] == "embedded"
    assert body["checks"]["geoip"]["status"] == "ok"
    assert "City" in body["checks"]["geoip"]["database_type"]
    assert body["checks"]["spool"]["status"] == "ok"


def test_the_operator_sees_the_hits_dropped_as_bots_summed_over_the_workers(app_settings: Settings,
                                                                            tmp_path: Path) -> None:
    """A site owner testing with Playwright gets an empty dashboard: the details of health say why,
    with the counts of every worker of the run (here, another worker's published sample too)."""
    folder = tmp_path / "worker-metrics"
    folder.mkdir()
    other = {"slot": 7, "pid": 1, "written": time.time(), "exited": True,
             "sample": {"counters": {"hits_dropped": {"bot": 2, "no-consent": 5}}}}
    (folder / "7.json").write_text(json.dumps(other), encoding="utf-8")
    app = create_app(app_settings)
    app.state.metrics_share_folder = folder  # as `serve --workers N` sets it
    with TestClient(app) as client:
        grant = client.post("/consent?site=1", json={"categories": ["analytics"], "policy_version": "1"},
                            headers={"Origin": DEMO_ORIGIN})
        assert grant.status_code == 200, grant.text
        hit = client.get("/matomo.php?" + urlencode({"idsite": 1, "rec": 1, "url": f"{DEMO_ORIGIN}/"}),
                         headers={"Origin": DEMO_ORIGIN, "User-Agent": HEADLESS})
        assert hit.status_code in (200, 204)
        public = client.get("/-/health")
        dropped = client.get("/-/health", headers=OPERATOR).json()["hits_dropped"]
    assert public.json() == {"status": "ok"}  # the counts are the operator's
    assert dropped["by_reason"] == {"bot": 3, "no-consent": 5}
    assert "Playwright" in dropped["hint"] and "docs/tracking.md" in dropped["hint"]


def test_an_undeclared_reverse_proxy_makes_health_degraded_with_a_hint(app_settings: Settings) -> None:
    """Behind a same-host proxy not in GATEWAY_TRUSTED_PROXIES every visitor shares one address: the
    operator sees why in health, while traffic keeps flowing (200)."""
    untrusted = replace(app_settings, trusted_proxies=())
    with TestClient(create_app(untrusted), client=("127.0.0.1", 40000)) as client:
        assert client.get("/-/health", headers=OPERATOR).json()["checks"]["proxies"]["status"] == "ok"
        client.get("/consent?site=1", headers={"X-Forwarded-For": "203.0.113.9"})
        public = client.get("/-/health")
        operator = client.get("/-/health", headers=OPERATOR).json()
    assert public.status_code == 200 and public.json() == {"status": "degraded"}
    assert operator["checks"]["proxies"]["status"] == "misconfigured"
    assert operator["checks"]["proxies"]["peer"] == "127.0.0.1"  # what to list, for the operator only
    assert "GATEWAY_TRUSTED_PROXIES" in operator["checks"]["proxies"]["hint"]


def test_a_wrong_token_is_refused_and_a_token_nobody_configured_says_so(client: TestClient,
                                                                        app_settings: Settings) -> None:
    for path in ("/-/health", "/-/version", "/-/metrics"):
        wrong = client.get(path, headers={"Authorization": "Bearer not-the-operator-token"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        assert "checks" not in wrong.json() and "python" not in wrong.json()
    assert client.get("/-/health", headers={"Authorization": "Basic b3BlcmF0b3I6eA=="}).status_code == 401
    with TestClient(create_app(replace(app_settings, metrics_token=""))) as unconfigured:
        refused = unconfigured.get("/-/health", headers=OPERATOR)
        assert refused.status_code == 403 and "GATEWAY_METRICS_TOKEN" in refused.json()["error"]
        assert unconfigured.get("/-/health").json() == {"status": "ok"}  # the public answer stays


def test_health_is_degraded_but_serving_without_geoip(app_settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "missing.mmdb"
    with TestClient(create_app(replace(app_settings, geoip_city_db=missing))) as client:
        public = client.get("/-/health")
        operator = client.get("/-/health", headers=OPERATOR)
    assert public.status_code == operator.status_code == 200
    assert public.json() == {"status": "degraded"}  # the path of the missing file is the operator's
    assert operator.json()["checks"]["geoip"] == {"status": "missing", "path": str(missing),
                                                  "hint": "run `consent-gateway geoip install`"}


def test_health_is_503_when_clickhouse_does_not_answer(client: TestClient) -> None:
    client.app.state.resources.db.close()  # type: ignore[attr-defined]
    public = client.get("/-/health")
    assert public.status_code == 503
    assert public.json() == {"status": "degraded"}  # no host, port or error text for strangers
    operator = client.get("/-/health", headers=OPERATOR)
    assert operator.status_code == 503
    assert operator.json()["checks"]["clickhouse"]["status"] == "down"
    assert operator.json()["checks"]["clickhouse"]["error"]


def test_embedded_clickhouse_busy_with_a_long_query_is_not_reported_down(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded engine runs one statement at a time: a ping waiting behind a long dashboard query
    is busy, not down, and a load balancer must not pull the only instance for it (found by the fuzz)."""
    monkeypatch.setattr(health, "CLICKHOUSE_TIMEOUT", 0.3)
    db = client.app.state.resources.db  # type: ignore[attr-defined]
    pings: list[float] = []
    real_ping = db.ping

    def counted_ping() -> float:
        pings.append(1.0)
        result: float = real_ping()
        return result

    monkeypatch.setattr(db, "ping", counted_ping)
    with db._locked():  # what a long query holds
        public = client.get("/-/health")
        operator = client.get("/-/health", headers=OPERATOR)
        for _ in range(3):
            client.get("/-/health")
    assert public.status_code == 200 and public.json() == {"status": "ok"}
    assert operator.json()["checks"]["clickhouse"] == {"status": "ok", "mode": "embedded", "busy": True}
    # Five probes, one ping thread: the later probes waited for it instead of stranding another.
    assert len(pings) == 1
    assert client.get("/-/health").json() == {"status": "ok"}


@pytest.fixture
def refusing_spool(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every spool refuses appends, as with a full disk (``Spool.refusal``)."""
    reason = "no space left on the spool's disk"
    monkeypatch.setattr(Spool, "refusal", property(lambda self: reason), raising=False)
    yield reason


def test_a_refusing_spool_makes_health_degraded_and_503(client: TestClient, refusing_spool: str) -> None:
    public = client.get("/-/health")
    # Hits get 503 from this instance meanwhile: a load balancer should send them elsewhere.
    assert public.status_code == 503 and public.json() == {"status": "degraded"}
    spool = client.get("/-/health", headers=OPERATOR).json()["checks"]["spool"]
    assert spool["status"] == "refusing" and spool["reason"] == refusing_spool


def test_ready_says_yes_when_the_instance_can_take_traffic(client: TestClient) -> None:
    public = client.get("/-/ready")
    assert public.status_code == 200 and public.json() == {"status": "ready"}
    assert public.headers["cache-control"] == "no-store"
    assert client.get("/-/ready", headers=OPERATOR).json() == {"status": "ready"}


def test_still_ready_while_clickhouse_does_not_answer_and_the_operator_is_told(client: TestClient) -> None:
    # ClickHouse is every instance's: not-ready would take them all out of the load balancer at once,
    # while the spool keeps the hits and the banner works. The operator sees what it waits for.
    client.app.state.resources.db.close()  # type: ignore[attr-defined]
    public = client.get("/-/ready")
    assert public.status_code == 200 and public.json() == {"status": "ready"}  # no error text
    operator = client.get("/-/ready", headers=OPERATOR).json()
    assert operator["status"] == "ready" and "reasons" not in operator
    [waiting] = operator["waiting"]
    assert waiting.startswith("clickhouse: ") and waiting.endswith("(hits are spooled)")


def test_not_ready_once_the_writer_stopped(client: TestClient) -> None:
    app: Any = client.app
    assert client.portal is not None
    client.portal.call(app.state.resources.writer.close, 1.0)
    assert client.get("/-/ready").status_code == 503
    assert client.get("/-/ready", headers=OPERATOR).json()["reasons"] == ["writer: stopped"]


def test_ready_tells_strangers_and_wrong_tokens_nothing_more(client: TestClient) -> None:
    wrong = client.get("/-/ready", headers={"Authorization": "Bearer " + "x" * 32})
    assert wrong.status_code == 401 and "reasons" not in wrong.text and "waiting" not in wrong.text
    head = client.head("/-/ready")
    assert head.status_code == 200 and head.content == b""


def test_not_ready_while_the_spool_refuses(client: TestClient, refusing_spool: str) -> None:
    assert client.get("/-/ready").status_code == 503
    reasons = client.get("/-/ready", headers=OPERATOR).json()["reasons"]
    assert reasons == [f"spool: refusing ({refusing_spool})"]


def test_a_replay_of_an_earlier_run_is_told_to_the_operator(client: TestClient,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # New hits are spooled meanwhile, so the instance takes traffic (tests/storage: Spool.replaying).
    monkeypatch.setattr(Spool, "replaying", property(lambda self: True))
    assert client.get("/-/ready").json() == {"status": "ready"}
    assert client.get("/-/ready", headers=OPERATOR).json()["waiting"] == [
        "spool: replaying the previous run's unacknowledged hits"]


def test_start_refuses_pending_migrations_when_told_not_to_migrate(app_settings: Settings) -> None:
    settings = replace(app_settings, migrate_on_start=False)
    with pytest.raises(MigrationError, match="consent-gateway migrate"), TestClient(create_app(settings)):
        pass


def test_writer_status_is_part_of_health(client: TestClient) -> None:
    writer = client.get("/-/health", headers=OPERATOR).json()["checks"]["writer"]
    assert writer["status"] == "ok"
    assert (writer["insert_failures"], writer["rows_rejected"]) == (0, {})


def test_version_is_public_and_python_is_the_operators(client: TestClient) -> None:
    body = client.get("/-/version").json()
    assert set(body) == {"name", "version", "scripts"}
    assert body["version"] == __version__
    assert sorted(body["scripts"]) == ["banner.js", "t.js"]  # the banner and the tracker, versioned URLs
    assert re.fullmatch(r"/t\.[0-9a-f]{12}\.js", body["scripts"]["t.js"])
    assert client.get("/-/version", headers=OPERATOR).json()["python"] == platform.python_version()
