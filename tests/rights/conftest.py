"""A gateway on real embedded ClickHouse for the rights tests, with a visitor's helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.consent.cookie import Consent, cookie_name
from tests.conftest import SettingsFactory
from tests.geoip_fixture import BERLIN

ORIGIN = "https://shop.example.com"
TOKEN = "site-token-for-rights-requests-001"
OTHER_TOKEN = "site-token-of-another-site-000001"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
SITES = f"""
[[sites]]
id = 3
name = "Parts"
origins = ["{ORIGIN}"]
token = "{TOKEN}"
policy_version = "1"

[[sites]]
id = 4
name = "Other"
origins = ["https://other.example.org"]
token = "{OTHER_TOKEN}"
policy_version = "1"
"""
ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(make_settings: SettingsFactory, clickhouse_url: str,
                city_db: Path) -> Iterator[ClientFactory]:
    clients: list[TestClient] = []

    def make(**env: str) -> TestClient:
        settings = make_settings({
            "GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_GEOIP_CITY_DB": str(city_db),
            "GATEWAY_SECRET_KEYS": "k" * 40, "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
            "GATEWAY_WRITER_FLUSH_INTERVAL": "0.05", "GATEWAY_INSTANCE_NAME": "gw-rights", **env,
        }, toml=SITES)
        client = TestClient(create_app(settings), client=("127.0.0.1", 50000),
                            base_url="https://stats.example.com",
                            headers={"User-Agent": CHROME, "X-Forwarded-For": BERLIN.sample_ip})
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()


def decide(client: TestClient, categories: list[str], site: int = 3) -> dict[str, Any]:
    response = client.post(f"/consent?site={site}", json={"categories": categories, "policy_version": "1"},
                           headers={"Origin": ORIGIN if site == 3 else "https://other.example.org"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def withdraw(client: TestClient) -> dict[str, Any]:
    response = client.delete("/consent?site=3", headers={"Origin": ORIGIN})
    assert response.status_code == 200, response.text
    return dict(response.json())


def cookie(client: TestClient, site: int = 3) -> str:
    return str(client.cookies[cookie_name(site)])


def decoded(client: TestClient, value: str) -> Consent:
    app: Any = client.app
    consent = app.state.consent_gate.codec.loads(value)
    assert isinstance(consent, Consent)
    return consent


def track(client: TestClient, with_cookie: str | None = None, site: int = 3, **params: Any) -> int:
    """A pageview, with the browser's cookie jar or with ``with_cookie`` replayed instead."""
    query = {"idsite": site, "rec": 1, "url": "https://shop.example.com/parts", "action_name": "Parts",
             "rand": "1"} | params
    headers = {"Origin": ORIGIN}
    if with_cookie is not None:
        headers["Cookie"] = f"{cookie_name(site)}={with_cookie}"
        jar = dict(client.cookies)
        client.cookies.clear()
        try:
            return client.get("/matomo.php?" + urlencode(query), headers=headers).status_code
        finally:
            client.cookies.update(jar)
    return client.get("/matomo.php?" + urlencode(query), headers=headers).status_code


def stored(client: TestClient, where: str = "1") -> list[tuple[Any, ...]]:
    app: Any = client.app
    resources = app.state.resources
    client.portal.call(resources.writer.flush)  # type: ignore[union-attr]
    return list(resources.db.query(f"SELECT toString(consent_id), visitor_id, ts FROM events WHERE {where} "
                                   "ORDER BY ts"))


def counter(client: TestClient, name: str, reason: str) -> int:
    app: Any = client.app
    return int(app.state.metrics.get(name, reason))
