"""A gateway on real embedded ClickHouse for the consent tests, with a site, its origin and its token,
and the visitor's and the log's helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from tests.conftest import SettingsFactory
from tests.geoip_fixture import BERLIN

ORIGIN = "https://shop.example.com"
TOKEN = "site-token-for-proof-requests-0001"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SITE = f"""
[[sites]]
id = 3
name = "Parts"
origins = ["{ORIGIN}"]
policy_version = "2026-11"
token = "{TOKEN}"
{{extra}}
[sites.banner]
position = "center"
[sites.banner.privacy_policy_url]
en = "https://shop.example.com/privacy"
de = "https://shop.example.com/datenschutz"
[sites.banner.texts.en]
title = "We value your privacy"
[sites.banner.texts.zh-CN]
title = "我们重视您的隐私"
"""

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(
    make_settings: SettingsFactory, clickhouse_url: str, city_db: Path
) -> Iterator[ClientFactory]:
    clients: list[TestClient] = []

    def make(
        extra: str = "", policy: str = "2026-11", peer: str = BERLIN.sample_ip, keys: str = "k" * 40,
        env: dict[str, str] | None = None,
    ) -> TestClient:
        settings = make_settings(
            {
                "GATEWAY_CLICKHOUSE_URL": clickhouse_url,
                "GATEWAY_GEOIP_CITY_DB": str(city_db),
                "GATEWAY_SECRET_KEYS": keys,
                "GATEWAY_INSTANCE_NAME": "gw-test",
                **(env or {}),
            },
            toml=SITE.replace("{extra}", extra).replace("2026-11", policy),
        )
        client = TestClient(
            create_app(settings),
            client=(peer, 50000),
            base_url="http://stats.example.com",
            headers={"User-Agent": FIREFOX},
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


def decide(client: TestClient, categories: list[str], **extra: Any) -> dict[str, Any]:
    body = {
        "categories": categories,
        "policy_version": "2026-11",
        "language": "de",
        "banner_version": "1.0.0",
    }
    response = client.post("/consent?site=3", json=body | extra, headers={"Origin": ORIGIN})
    assert response.status_code == 200, response.text
    return dict(response.json())


def log_rows(client: TestClient) -> list[dict[str, Any]]:
    db = client.app.state.resources.db  # type: ignore[attr-defined]
    rows = db.query(
        "SELECT toString(consent_id), toString(action), categories, policy_version, banner_version, "
        "language, toString(source), country_code, browser_family, gateway_instance "
        "FROM consent_log ORDER BY ts, action = 'undelivered', ingested_at"
    )
    keys = (
        "consent_id",
        "action",
        "categories",
        "policy_version",
        "banner_version",
        "language",
        "source",
        "country_code",
        "browser_family",
        "gateway_instance",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]

