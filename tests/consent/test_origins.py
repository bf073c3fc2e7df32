"""The gateway's log names, once, a page its site did not configure and a page cross-site with it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.consent.origins import DOCS, LINES_PER_MINUTE
from tests.conftest import SettingsFactory
from tests.consent.conftest import FIREFOX, ORIGIN, ClientFactory
from tests.geoip_fixture import BERLIN

ELSEWHERE = "https://elsewhere.example.org"
CROSS_SITE = {"Origin": ORIGIN, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors",
              "Sec-Fetch-Dest": "empty"}
TWO_SITES = f"""
[[sites]]
id = 3
name = "Parts"
origins = ["{ORIGIN}"]

[[sites]]
id = 4
name = "Blog"
origins = ["https://blog.example.com"]
"""


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gateway.consent.origins"]


@pytest.fixture
def two_sites(make_settings: SettingsFactory, clickhouse_url: str, city_db: Path) -> Iterator[TestClient]:
    settings = make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_GEOIP_CITY_DB": str(city_db),
                              "GATEWAY_SECRET_KEYS": "k" * 40}, toml=TWO_SITES)
    with TestClient(create_app(settings), client=(BERLIN.sample_ip, 50000), base_url="http://stats.example.com",
                    headers={"User-Agent": FIREFOX}) as client:
        yield client


def test_a_page_on_an_unconfigured_origin_is_named_once_per_origin_and_site(
    two_sites: TestClient, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    preflight = {"Origin": ELSEWHERE, "Access-Control-Request-Method": "POST"}
    for _ in range(3):
        assert two_sites.get("/consent?site=3", headers={"Origin": ELSEWHERE}).status_code == 200
        assert two_sites.options("/consent?site=3", headers=preflight).status_code == 403
        assert two_sites.post("/consent?site=3", json={}, headers={"Origin": ELSEWHERE}).status_code == 403
        assert two_sites.delete("/consent?site=3", headers={"Origin": ELSEWHERE}).status_code == 403
    [line] = lines(caplog)
    assert f"a page on {ELSEWHERE!r} asked for site 3" in line and "CORS" in line
    config = two_sites.app.state.settings.config_file  # type: ignore[attr-defined]
    assert f"`origins` in the [[sites]] table with id = 3 of {config}" in line
    assert BERLIN.sample_ip not in caplog.text
    two_sites.get("/consent?site=4", headers={"Origin": ELSEWHERE})  # another site: its own line
    two_sites.get("/consent?site=3", headers={"Origin": "https://other.example.net"})  # another origin
    two_sites.get("/consent?site=3", headers={"Origin": ORIGIN})  # configured: nothing to say
    two_sites.get("/consent?site=3")  # no Origin (a server): nothing to say
    assert len(lines(caplog)) == 3
    assert "site 4" in lines(caplog)[1] and "id = 4" in lines(caplog)[1]


def test_the_origin_is_quoted_and_cut_short(two_sites: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    two_sites.get("/consent?site=3", headers={"Origin": "https://x.example\tforged " + "a" * 5000})
    [line] = lines(caplog)
    assert "\t" not in line and "\\tforged" in line
    assert len(line) < 800 and "a" * 200 not in line


def test_an_attacker_sending_many_origins_gets_a_few_lines(
    two_sites: TestClient, caplog: pytest.LogCaptureFixture,
) -> None:
    """A thousand here (tests/web/test_warn_once.py floods WarnOnce with ten thousand, over hours too)."""
    caplog.set_level(logging.WARNING)
    for n in range(1_000):
        two_sites.options("/consent?site=3", headers={"Origin": f"https://{n}.attacker.example"})
    assert len(lines(caplog)) == LINES_PER_MINUTE  # the minute's lines; the rest are turned away


def test_the_demo_site_says_to_configure_your_own(
    make_settings: SettingsFactory, clickhouse_url: str, city_db: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    settings = make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_GEOIP_CITY_DB": str(city_db),
                              "GATEWAY_SECRET_KEYS": "k" * 40})
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8100") as client:
        client.get("/consent?site=1", headers={"Origin": "http://www.example.com"})
    [line] = lines(caplog)
    assert "configure your own site" in line and "GATEWAY_CONFIG" in line


def test_a_decision_from_a_cross_site_page_is_named_once_per_origin(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    client = make_client()
    body = {"categories": ["analytics"], "policy_version": "2026-11"}
    client.get("/consent?site=3", headers=CROSS_SITE)  # reading decides nothing: nothing to say yet
    assert lines(caplog) == []
    for _ in range(3):
        assert client.post("/consent?site=3", json=body, headers=CROSS_SITE).status_code == 200
        client.cookies.clear()  # as the browser does
        assert client.delete("/consent?site=3", headers=CROSS_SITE).status_code == 200
    [line] = lines(caplog)
    assert f"a decision for site 3 came from a page on {ORIGIN!r}, which is cross-site" in line
    assert "will not keep the consent cookie" in line
    assert "stats.example.com for www.example.com" in line and DOCS in line
    assert BERLIN.sample_ip not in caplog.text
    same_site = CROSS_SITE | {"Sec-Fetch-Site": "same-site"}
    assert client.post("/consent?site=3", json=body, headers=same_site).status_code == 200
    assert len(lines(caplog)) == 1
