"""A GeoIP database replaced on disk is used without a restart, and a broken one is not.

The real app over embedded ClickHouse, the tiny generated databases of tests/geoip_fixture.py, and a
watcher that looks every 50 ms: the file is replaced as `geoip install` does it, by a rename.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from gateway.app import create_app
from tests.conftest import SettingsFactory
from tests.geoip_fixture import BERLIN, build_city_db


def settle(app: Any, database_type: str) -> None:
    for _ in range(100):
        geo = app.state.resources.geo
        if geo is not None and geo.describe()["database_type"] == database_type:
            return
        time.sleep(0.05)


def app_over(make_settings: SettingsFactory, clickhouse_url: str, city: Path, interval: str) -> TestClient:
    return TestClient(create_app(make_settings({
        "GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_GEOIP_CITY_DB": str(city),
        "GATEWAY_GEOIP_RELOAD_INTERVAL": interval})))


def replace_with(path: Path, database_type: str) -> None:
    fresh = build_city_db(path.with_suffix(".new"), database_type)
    fresh.replace(path)  # atomic: the path names the old file or the new one, whole


def test_a_replaced_database_is_used_and_a_broken_one_is_not(make_settings: SettingsFactory,
                                                            clickhouse_url: str, tmp_path: Path) -> None:
    city = build_city_db(tmp_path / "city.mmdb", "GeoLite2-City")
    with app_over(make_settings, clickhouse_url, city, "0.05") as client:
        app: Any = client.app
        first = app.state.resources.geo
        replace_with(city, "DBIP-City-Lite")
        settle(app, "DBIP-City-Lite")
        now = app.state.resources.geo
        assert now is not first and now.describe()["database_type"] == "DBIP-City-Lite"
        assert app.state.pipeline.geo is now  # hits use it too
        assert now.lookup(BERLIN.sample_ip).city_name == "Berlin"
        # A file that is no database: the one in use stays.
        broken = tmp_path / "broken.mmdb"
        broken.write_bytes(b"not a database" * 100)
        broken.replace(city)
        time.sleep(0.5)
        assert app.state.resources.geo is now and app.state.pipeline.geo is now
        assert client.get("/-/health").json() == {"status": "ok"}


def test_a_database_installed_after_the_start_is_taken_up(make_settings: SettingsFactory,
                                                          clickhouse_url: str, tmp_path: Path) -> None:
    city = tmp_path / "geoip" / "city.mmdb"
    city.parent.mkdir()
    with app_over(make_settings, clickhouse_url, city, "0.05") as client:
        app: Any = client.app
        assert client.get("/-/health").json() == {"status": "degraded"}  # no geography yet
        replace_with(city, "GeoLite2-City")
        settle(app, "GeoLite2-City")
        assert app.state.pipeline.geo is app.state.resources.geo is not None
        assert client.get("/-/health").json() == {"status": "ok"}


def test_zero_means_never(make_settings: SettingsFactory, clickhouse_url: str, tmp_path: Path) -> None:
    city = build_city_db(tmp_path / "city.mmdb", "GeoLite2-City")
    with app_over(make_settings, clickhouse_url, city, "0") as client:
        app: Any = client.app
        first = app.state.resources.geo
        replace_with(city, "DBIP-City-Lite")
        time.sleep(0.3)
        assert app.state.resources.geo is first
