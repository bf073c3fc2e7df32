"""Story: an operator starts the gateway with no configuration and checks that it is healthy.

Runs the real ``consent-gateway serve`` (uvicorn, embedded ClickHouse, the tiny GeoIP database),
then checks that the logs never name the client, even when a forwarded address is sent.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx2 as httpx

from tests.e2e.gateway_process import running_gateway


def test_serve_on_embedded_defaults_is_healthy_and_logs_no_client_address(tmp_path: Path,
                                                                          city_db: Path) -> None:
    data = tmp_path / "data"
    env = {"GATEWAY_DATA_DIR": str(data), "GATEWAY_GEOIP_CITY_DB": str(city_db)}
    with running_gateway(env, tmp_path / "serve.log") as gateway:
        base = gateway.base
        health = httpx.get(f"{base}/-/health", timeout=5)
        assert health.status_code == 200, health.text
        assert health.json() == {"status": "ok"}  # GeoIP included; the details need an operator token
        details = httpx.get(f"{base}/-/health", headers={"Authorization": "Bearer some-guess"}, timeout=5)
        assert details.status_code == 403 and "set GATEWAY_METRICS_TOKEN" in details.json()["error"]
        assert (data / "clickhouse").is_dir() and (data / "secret_key").is_file()
        assert httpx.get(f"{base}/-/version").json()["name"] == "consent-gateway"
        forwarded = httpx.get(f"{base}/-/health?email=jane.doe@example.com",
                              headers={"X-Forwarded-For": "81.2.69.160", "Forwarded": "for=2.125.160.216"})
        assert forwarded.status_code == 200
        assert httpx.get(f"{base}/no-such-page").status_code == 404
        upgrade = httpx.get(f"{base}/track?email=jane.doe@example.com",
                            headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                     "Sec-WebSocket-Version": "13"})
        assert upgrade.status_code == 404
    output = gateway.log
    exit_code = gateway.exit_code
    # uvicorn shuts down gracefully, then re-raises SIGTERM so supervisors see how it ended.
    assert exit_code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete." in output
    assert "GET /-/health 200" in output and "GET -unmatched- 404" in output
    assert "Production must set GATEWAY_SECRET_KEYS" in output
    for secret in ("81.2.69.160", "2.125.160.216", "jane.doe@example.com"):
        assert secret not in output
    # The only address in the log is the one the server listens on, never a client's.
    client_lines = [line for line in output.splitlines() if "127.0.0.1" in line and "running on" not in line]
    assert client_lines == []


def test_json_logs_for_a_log_shipper_are_json_from_the_first_line_to_the_last(tmp_path: Path,
                                                                             city_db: Path) -> None:
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_GEOIP_CITY_DB": str(city_db),
           "GATEWAY_LOG_FORMAT": "json"}
    with running_gateway(env, tmp_path / "serve.log") as gateway:
        assert httpx.get(f"{gateway.base}/-/health?email=jane.doe@example.com",
                         headers={"X-Forwarded-For": "81.2.69.160"}, timeout=5).status_code == 200
    lines = [line for line in gateway.log.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # the migration report and uvicorn's lines too
    assert {"Applied 7 migration(s)" in r["message"] for r in records} == {True, False}
    assert any(r["logger"] == "gateway.access" and r["message"].startswith("GET /-/health 200")
               for r in records)
    assert "81.2.69.160" not in gateway.log and "jane.doe@example.com" not in gateway.log
