"""``/-/health`` and ``/-/version`` as a load balancer and an operator see them."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway import __version__
from gateway.app import create_app
from gateway.settings import Settings
from gateway.storage.migrations import MigrationError


def test_health_is_ok_with_clickhouse_and_geoip(client: TestClient) -> None:
    response = client.get("/-/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["clickhouse"]["status"] == "ok"
    assert body["checks"]["clickhouse"]["mode"] == "embedded"
    assert body["checks"]["geoip"]["status"] == "ok"
    assert "City" in body["checks"]["geoip"]["database_type"]
    assert response.headers["cache-control"] == "no-store"


def test_health_is_degraded_but_serving_without_geoip(app_settings: Settings, tmp_path: Path) -> None:
    settings = replace(app_settings, geoip_city_db=tmp_path / "missing.mmdb")
    with TestClient(create_app(settings)) as client:
        response = client.get("/-/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["geoip"]["status"] == "missing"


def test_health_is_503_when_clickhouse_does_not_answer(client: TestClient) -> None:
    client.app.state.resources.db.close()  # type: ignore[attr-defined]
    response = client.get("/-/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["clickhouse"]["status"] == "down"


def test_start_refuses_pending_migrations_when_told_not_to_migrate(app_settings: Settings) -> None:
    settings = replace(app_settings, migrate_on_start=False)
    with pytest.raises(MigrationError, match="consent-gateway migrate"), TestClient(create_app(settings)):
        pass


def test_writer_status_is_part_of_health(client: TestClient) -> None:
    writer = client.get("/-/health").json()["checks"]["writer"]
    assert writer["status"] == "ok"
    assert (writer["insert_failures"], writer["rows_rejected"]) == (0, {})


def test_version(client: TestClient) -> None:
    body = client.get("/-/version").json()
    assert body["version"] == __version__
    assert sorted(body["scripts"]) == ["banner.js", "t.js"]  # the banner and the tracker, versioned URLs
    assert re.fullmatch(r"/t\.[0-9a-f]{12}\.js", body["scripts"]["t.js"])
