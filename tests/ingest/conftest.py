"""The tracking endpoint's test gateway: one site behind a trusted proxy, real embedded ClickHouse and the
tiny GeoIP database (see test_endpoint.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from tests.conftest import SettingsFactory
from tests.geoip_fixture import BERLIN

ORIGIN = "https://shop.example.com"
TOKEN = "site-token-for-server-side-hits-01"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SITE = f"""
[[sites]]
id = 3
name = "Parts"
origins = ["{ORIGIN}"]
token = "{TOKEN}"
language = "zh-CN"
{{extra}}
"""
PAGE = "https://shop.example.com/catalogue/brakes?utm_source=newsletter&utm_medium=email&utm_campaign=Winter"

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(
    make_settings: SettingsFactory, clickhouse_url: str, city_db: Path
) -> Iterator[ClientFactory]:
    clients: list[TestClient] = []

    def make(extra: str = "", peer: str = "127.0.0.1", city: str = BERLIN.sample_ip) -> TestClient:
        settings = make_settings(
            {
                "GATEWAY_CLICKHOUSE_URL": clickhouse_url,
                "GATEWAY_GEOIP_CITY_DB": str(city_db),
                "GATEWAY_SECRET_KEYS": "k" * 40,
                "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
                "GATEWAY_WRITER_FLUSH_INTERVAL": "0.05",
            },
            toml=SITE.replace("{extra}", extra),
        )
        client = TestClient(
            create_app(settings),
            client=(peer, 50000),
            base_url="https://stats.example.com",
            headers={"User-Agent": CHROME, "X-Forwarded-For": city, "Accept-Language": "de-DE"},
        )
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()
