"""The consent API as the banner and the site owner use it, against real embedded ClickHouse.

Each decision is checked twice: what the visitor's browser gets (receipt, cookie, state on the next
GET) and what the consent log proves afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import random
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.consent import api as consent_api
from gateway.consent.budget import BANNER_EVERY
from gateway.consent.cookie import ConsentGate, cookie_name
from gateway.consent.record import Waits, log_decision
from gateway.monitoring.counters import Metrics
from gateway.storage.clickhouse import Database, connect
from gateway.storage.migrations import migrate
from gateway.storage.writer import BatchWriter, Overloaded
from tests.conftest import SettingsFactory
from tests.consent.conftest import FIREFOX, ORIGIN, SITE, TOKEN, ClientFactory, decide, log_rows
from tests.geoip_fixture import BERLIN, GOOGLE_DNS
from tests.support.clickhouse_standin import StandIn, running_standin


def analytics_consent(client: TestClient) -> Any:
    """What the tracking endpoint will see: ``consent_for`` on a request carrying the visitor's cookie."""
    app: Any = client.app
    gate: ConsentGate = app.state.consent_gate
    cookie = client.cookies.get(cookie_name(3))
    scope = {
        "type": "http",
        "headers": [(b"cookie", f"{cookie_name(3)}={cookie}".encode())] if cookie else [],
    }
    return gate.consent_for(Request(scope), app.state.settings.site(3))


def test_a_first_visit_asks_with_everything_the_banner_needs(client: TestClient) -> None:
    response = client.get("/consent?site=3", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    body = response.json()
    assert (body["decided"], body["show_banner"], body["reason"]) == (False, True, "no-decision")
    assert (body["categories"], body["consent"], body["gpc"], body["regime"]) == (
        ["necessary"],
        None,
        False,
        "opt-in",
    )
    banner = body["banner"]
    assert [c["id"] for c in banner["categories"]] == ["necessary", "analytics", "marketing"]
    assert banner["categories"][0]["required"] is True
    assert (banner["language"], banner["dir"]) == ("en", "ltr")
    assert banner["texts"]["title"] == "We value your privacy"
    assert banner["privacy_policy_url"] == "https://shop.example.com/privacy"
    assert (banner["position"], banner["policy_version"], len(banner["config_hash"])) == (
        "center",
        "2026-11",
        16,
    )
    assert log_rows(client) == []


def test_accepting_sets_a_private_cookie_and_logs_the_grant(client: TestClient) -> None:
    response = client.post(
        "/consent?site=3",
        headers={"Origin": ORIGIN},
        json={
            "categories": ["analytics", "marketing"],
            "policy_version": "2026-11",
            "language": "de",
            "banner_version": "1.0.0",
        },
    )
    assert response.status_code == 200
    receipt = response.json()
    assert receipt["categories"] == ["analytics", "marketing", "necessary"]
    assert receipt["policy_version"] == "2026-11"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{cookie_name(3)}=")
    for attribute in ("HttpOnly", "Max-Age=15724800", "Path=/", "SameSite=lax"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    consent = analytics_consent(client)
    assert consent is not None and consent.visitor_id > 0
    assert str(consent.consent_id) == receipt["consent_id"]
    [row] = log_rows(client)
    config_hash = client.get("/consent?site=3").json()["banner"]["config_hash"]
    assert row == {
        "consent_id": receipt["consent_id"],
        "action": "grant",
        "categories": ["analytics", "marketing", "necessary"],
        "policy_version": "2026-11",
        "banner_version": f"1.0.0/{config_hash}",
        "language": "de",
        "source": "banner",
        "country_code": "DE",
        "browser_family": "Firefox",
        "gateway_instance": "gw-test",
    }
    state = client.get("/consent?site=3").json()
    assert (state["decided"], state["show_banner"], state["consent"]["consent_id"]) == (
        True,
        False,
        receipt["consent_id"],
    )


def test_refusing_is_remembered_and_stores_no_visitor(client: TestClient) -> None:
    receipt = decide(client, [])
    assert receipt["categories"] == ["necessary"]
    assert analytics_consent(client) is None
    assert client.app.state.metrics.get("consent_cookie", "not-granted") == 1  # type: ignore[attr-defined]
    assert [r["action"] for r in log_rows(client)] == ["refuse"]
    state = client.get("/consent?site=3").json()
    assert (state["decided"], state["show_banner"]) == (True, False)  # the banner does not nag


def test_changing_the_choice_keeps_the_consent_id_and_drops_the_visitor_id(client: TestClient) -> None:
    first = decide(client, ["analytics"])
    assert analytics_consent(client) is not None
    second = decide(client, ["marketing"])
    assert second["consent_id"] == first["consent_id"]
    assert analytics_consent(client) is None
    third = decide(client, ["analytics"])
    assert analytics_consent(client) is not None
    assert [r["action"] for r in log_rows(client)] == ["grant", "update", "update"]
    assert {r["consent_id"] for r in log_rows(client)} == {third["consent_id"]}


def test_withdrawing_is_as_easy_as_giving(client: TestClient) -> None:
    granted = decide(client, ["analytics"])
    response = client.delete("/consent?site=3", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.json()["categories"] == ["necessary"]
    assert analytics_consent(client) is None
    assert [(r["action"], r["categories"]) for r in log_rows(client)] == [
        ("grant", ["analytics", "necessary"]),
        ("withdraw", ["necessary"]),
    ]
    assert log_rows(client)[1]["consent_id"] == granted["consent_id"]


def test_a_withdrawal_is_logged_with_the_banner_that_showed_it(client: TestClient) -> None:
    decide(client, ["analytics"])
    url = "/consent?site=3&language=zh-CN&banner_version=1.2.0"
    assert client.delete(url, headers={"Origin": ORIGIN}).status_code == 200
    withdrawal = log_rows(client)[-1]
    assert (withdrawal["action"], withdrawal["language"]) == ("withdraw", "zh-CN")
    assert withdrawal["banner_version"].startswith("1.2.0/")
    bad = "/consent?site=3&language=" + "x" * 99 + "&banner_version=%3Cscript%3E"
    assert client.delete(bad, headers={"Origin": ORIGIN}).status_code == 200  # never refused
    assert (log_rows(client)[-1]["language"], log_rows(client)[-1]["banner_version"].count("/")) == ("", 0)


def test_a_policy_bump_re_prompts_and_stale_consents_stop_counting(make_client: ClientFactory) -> None:
    old = make_client()
    decide(old, ["analytics"])
    bumped = make_client(policy="2027-01")  # same keys and database: the same gateway after a config change
    bumped.cookies.set(cookie_name(3), old.cookies[cookie_name(3)], domain="stats.example.com")
    state = bumped.get("/consent?site=3").json()
    assert (state["show_banner"], state["reason"], state["policy_version"]) == (
        True,
        "policy-changed",
        "2027-01",
    )
    assert analytics_consent(bumped) is None
    stale = bumped.post(
        "/consent?site=3",
        headers={"Origin": ORIGIN},
        json={"categories": ["analytics"], "policy_version": "2026-11"},
    )
    assert stale.status_code == 400 and "stale policy_version" in stale.json()["error"]
    assert stale.json()["code"] == "stale"  # the banner reloads and asks again
    renewed = bumped.post(
        "/consent?site=3",
        headers={"Origin": ORIGIN},
        json={"categories": ["analytics"], "policy_version": "2027-01"},
    )
    assert renewed.status_code == 200
    assert analytics_consent(bumped) is not None
    # Accepting again after the lapse is a new grant, under the same consent id.
    assert [(r["action"], r["policy_version"]) for r in log_rows(bumped)] == [
        ("grant", "2026-11"),
        ("grant", "2027-01"),
    ]
    assert len({r["consent_id"] for r in log_rows(bumped)}) == 1


def test_decisions_expire_and_the_banner_comes_back(client: TestClient) -> None:
    decide(client, ["analytics"])
    gate: ConsentGate = client.app.state.consent_gate  # type: ignore[attr-defined]
    real_clock = gate.clock
    gate.clock = lambda: real_clock() + 183 * 86400
    state = client.get("/consent?site=3").json()
    assert (state["show_banner"], state["reason"]) == (True, "expired")
    assert analytics_consent(client) is None


def test_gpc_alone_is_recorded_as_a_refusal_once(client: TestClient) -> None:
    first = client.get("/consent?site=3", headers={"Sec-GPC": "1"})
    body = first.json()
    assert (body["gpc"], body["decided"], body["show_banner"], body["categories"]) == (
        True,
        True,
        False,
        ["necessary"],
    )
    assert body["consent"]["source"] == "gpc"
    assert cookie_name(3) in first.headers["set-cookie"]
    client.get("/consent?site=3", headers={"Sec-GPC": "1"})
    assert [(r["action"], r["source"]) for r in log_rows(client)] == [("refuse", "gpc")]
    decide(client, ["analytics"])  # an explicit choice in the banner still counts
    assert analytics_consent(client) is not None


def test_gpc_can_be_only_a_default_and_dnt_is_ignored_unless_asked(make_client: ClientFactory) -> None:
    lenient = make_client(extra="gpc_is_refusal = false")
    body = lenient.get("/consent?site=3", headers={"Sec-GPC": "1", "DNT": "1"}).json()
    assert (body["gpc"], body["show_banner"], body["categories"]) == (True, True, ["necessary"])
    assert log_rows(lenient) == []
    strict = make_client(extra="honour_dnt = true")
    assert strict.get("/consent?site=3", headers={"DNT": "1"}).json()["consent"]["source"] == "dnt"


def test_opt_in_only_sites_ask_only_where_opt_in_law_applies(make_client: ClientFactory) -> None:
    american = make_client(extra='banner_scope = "opt-in-only"', peer=GOOGLE_DNS.sample_ip)
    body = american.get("/consent?site=3").json()
    assert (body["regime"], body["show_banner"], body["consent"]["source"]) == ("opt-out", False, "regime")
    assert analytics_consent(american) is not None
    assert [(r["action"], r["source"], r["country_code"]) for r in log_rows(american)] == [
        ("grant", "regime", "US")
    ]
    german = make_client(extra='banner_scope = "opt-in-only"')  # same database as the American
    body = german.get("/consent?site=3").json()
    assert (body["regime"], body["show_banner"]) == ("opt-in", True)
    assert len(log_rows(german)) == 1  # nothing logged for the German visitor


def test_a_default_of_opt_out_law_ends_with_gpc_travel_or_a_site_change(make_client: ClientFactory) -> None:
    american = make_client(extra='banner_scope = "opt-in-only"', peer=GOOGLE_DNS.sample_ip)
    american.get("/consent?site=3")
    cookie = american.cookies[cookie_name(3)]
    # The same visitor, now where opt-in applies: asked, and not tracked on the default.
    travelled = make_client(extra='banner_scope = "opt-in-only"')
    travelled.cookies.set(cookie_name(3), cookie, domain="stats.example.com")
    body = travelled.get("/consent?site=3").json()
    assert (body["show_banner"], body["reason"]) == (True, "regime-changed")
    # The site now asks everyone: the default no longer counts anywhere.
    asks_all = make_client(peer=GOOGLE_DNS.sample_ip)
    asks_all.cookies.set(cookie_name(3), cookie, domain="stats.example.com")
    assert analytics_consent(asks_all) is None
    assert asks_all.get("/consent?site=3").json()["reason"] == "regime-changed"
    # Back home, the browser starts sending GPC: an opt-out, logged as such.
    app: Any = american.app
    with_gpc = Request({"type": "http", "headers": [(b"cookie", f"{cookie_name(3)}={cookie}".encode()),
                                                    (b"sec-gpc", b"1")]})
    assert app.state.consent_gate.consent_for(with_gpc, app.state.settings.site(3)) is None
    body = american.get("/consent?site=3", headers={"Sec-GPC": "1"}).json()
    assert (body["categories"], body["consent"]["source"]) == (["necessary"], "gpc")
    assert analytics_consent(american) is None


def test_head_reads_and_never_decides(client: TestClient) -> None:
    decide(client, ["analytics"])
    for headers in ({}, {"Origin": ORIGIN}, {"Sec-GPC": "1"}):
        response = client.head("/consent?site=3", headers=headers)
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
    assert analytics_consent(client) is not None
    assert [r["action"] for r in log_rows(client)] == ["grant"]


def test_a_browser_saying_cross_site_cannot_decide_even_without_origin(client: TestClient) -> None:
    form_like = {"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"}
    body = json.dumps({"categories": ["analytics"], "policy_version": "2026-11"})
    assert client.post("/consent?site=3", content=body, headers=form_like).status_code == 403
    assert client.delete("/consent?site=3", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert log_rows(client) == []
    server_side = client.post("/consent?site=3", content=body, headers={"Content-Type": "text/plain"})
    assert server_side.status_code == 200


def test_a_stale_banner_configuration_is_refused(client: TestClient) -> None:
    current = client.get("/consent?site=3").json()["banner"]["config_hash"]
    body = {"categories": ["analytics"], "policy_version": "2026-11"}
    stale = client.post("/consent?site=3", json=body | {"config_hash": "0" * 16}, headers={"Origin": ORIGIN})
    assert stale.status_code == 400 and "stale config_hash" in stale.json()["error"]
    assert stale.json()["code"] == "stale"
    fresh = client.post("/consent?site=3", json=body | {"config_hash": current}, headers={"Origin": ORIGIN})
    assert fresh.status_code == 200


def test_when_the_log_cannot_take_it_grants_fail_but_refusals_still_hold(client: TestClient) -> None:
    decide(client, ["analytics"])
    writer: Any = client.app.state.resources.writer  # type: ignore[attr-defined]

    def overloaded(*args: Any, **kwargs: Any) -> Any:
        raise Overloaded("ClickHouse is down")

    writer.submit = overloaded
    grant = client.post(
        "/consent?site=3",
        json={"categories": ["analytics", "marketing"], "policy_version": "2026-11"},
        headers={"Origin": ORIGIN},
    )
    assert grant.status_code == 503 and "set-cookie" not in grant.headers
    withdrawn = client.delete("/consent?site=3", headers={"Origin": ORIGIN})
    assert withdrawn.status_code == 200
    assert withdrawn.json()["logged"] is False
    assert analytics_consent(client) is None  # the withdrawal is honoured at once
    metrics: Any = client.app.state.metrics  # type: ignore[attr-defined]
    assert metrics.get("consent_decision", "withdraw-not-logged") == 1


def test_each_banner_configuration_is_stored_once(make_client: ClientFactory) -> None:
    first = make_client()
    make_client()  # a restart with the same configuration
    changed = make_client(extra="consent_lifetime_days = 30")  # unchanged texts: same configuration
    db: Any = changed.app.state.resources.db  # type: ignore[attr-defined]
    assert db.query("SELECT count() FROM consent_configs") == [(1,)]
    assert (
        first.get("/consent?site=3").json()["banner"]["config_hash"]
        == db.query("SELECT config_hash FROM consent_configs")[0][0]
    )


def test_crafted_input_never_causes_a_500(client: TestClient) -> None:
    rnd = random.Random(7)
    pieces = ["", "3", "²", "٣", "9" * 30, "-1", "\x00", "3&site=4", "é", "[" * 3000, "{", "null", "Bearer"]
    decide(client, ["analytics"])
    for _ in range(300):
        method = rnd.choice(["GET", "POST", "DELETE", "OPTIONS", "HEAD", "PUT"])
        site = quote(rnd.choice(pieces))
        headers = {
            b"origin": rnd.choice([ORIGIN, "null", "é", ""]).encode(),
            b"content-type": rnd.choice([b"application/json", b"text/plain", b"x/y"]),
            b"authorization": b"Bearer " + rnd.choice(pieces).encode(),
        }
        content = rnd.choice([*pieces, '{"categories": [], "policy_version": "2026-11"}'])
        response = client.request(method, f"/consent?site={site}", content=content, headers=headers)
        assert response.status_code < 500, (method, site, headers, content[:40])
        proof = client.get(f"/api/consents/{quote(rnd.choice(pieces))}",
                           headers={b"authorization": headers[b"authorization"]})
        assert proof.status_code < 500


def test_sites_with_their_own_categories_need_no_analytics_category(make_settings: SettingsFactory) -> None:
    custom = '[[sites.categories]]\nid = "necessary"\n[[sites.categories]]\nid = "statistics"'
    settings = make_settings(toml=SITE.replace("{extra}", custom))
    assert [c.id for c in settings.sites[0].consent.categories] == ["necessary", "statistics"]


def test_foreign_origins_get_no_cors_and_cannot_decide(client: TestClient) -> None:
    evil = "https://evil.example"
    assert (
        "access-control-allow-origin" not in client.get("/consent?site=3", headers={"Origin": evil}).headers
    )
    for origin in (evil, "null"):
        response = client.post(
            "/consent?site=3",
            headers={"Origin": origin},
            json={"categories": ["analytics"], "policy_version": "2026-11"},
        )
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers
        assert client.delete("/consent?site=3", headers={"Origin": origin}).status_code == 403
    preflight = client.options(
        "/consent?site=3", headers={"Origin": evil, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers
    assert log_rows(client) == []


def test_preflight_for_a_site_origin(client: TestClient) -> None:
    response = client.options(
        "/consent?site=3",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]


def test_send_beacon_bodies_are_accepted_as_text(client: TestClient) -> None:
    body = json.dumps({"categories": ["analytics"], "policy_version": "2026-11"})
    response = client.post(
        "/consent?site=3",
        content=body,
        headers={"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8"},
    )
    assert response.status_code == 200
    assert analytics_consent(client) is not None


@pytest.mark.parametrize(
    ("query", "body", "content_type", "status", "message"),
    [
        ("site=99", {}, "application/json", 404, "unknown site 99"),
        ("site=abc", {}, "application/json", 400, "site id"),
        (
            "site=3",
            {"categories": ["analytics", "telemetry"], "policy_version": "2026-11"},
            "application/json",
            400,
            "unknown category 'telemetry'",
        ),
        ("site=3", {"categories": "analytics", "policy_version": "2026-11"}, "application/json", 400, "list"),
        (
            "site=3",
            {"categories": [], "policy_version": "2026-11", "source": "gpc"},
            "application/json",
            400,
            "source",
        ),
        (
            "site=3",
            {"categories": [], "policy_version": "2026-11", "language": "<script>"},
            "application/json",
            400,
            "language",
        ),
        ("site=3", "{not json", "application/json", 400, "not valid JSON"),
        ("site=3", "[1, 2]", "application/json", 400, "JSON object"),
        ("site=3", {"categories": [], "pad": "x" * 5000}, "application/json", 413, "larger than 4096"),
        ("site=3", "categories=analytics", "application/x-www-form-urlencoded", 415, "application/json"),
    ],
)
def test_bad_decisions_get_a_clear_error_and_log_nothing(
    client: TestClient, query: str, body: Any, content_type: str, status: int, message: str
) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.post(
        f"/consent?{query}", content=content, headers={"Origin": ORIGIN, "Content-Type": content_type}
    )
    assert response.status_code == status
    assert message in response.json()["error"]
    assert "set-cookie" not in response.headers
    assert log_rows(client) == []


def test_a_forged_cookie_is_no_consent_and_is_counted(client: TestClient) -> None:
    decide(client, ["analytics"])
    value = client.cookies[cookie_name(3)]
    forged = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    client.cookies.set(cookie_name(3), forged, domain="stats.example.com")
    assert client.get("/consent?site=3").json()["reason"] == "no-decision"
    assert analytics_consent(client) is None
    assert client.app.state.metrics.get("consent_cookie", "bad-signature") >= 1  # type: ignore[attr-defined]


def test_cookie_is_secure_behind_a_trusted_https_proxy(
    make_settings: SettingsFactory, clickhouse_url: str
) -> None:
    settings: Settings = make_settings(
        {"GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8"},
        toml=SITE.replace("{extra}", ""),
    )
    with TestClient(create_app(settings), client=("10.1.2.3", 1)) as proxied:
        response = proxied.post(
            "/consent?site=3",
            json={"categories": [], "policy_version": "2026-11"},
            headers={"Origin": ORIGIN, "X-Forwarded-Proto": "https", "X-Forwarded-For": BERLIN.sample_ip},
        )
    assert response.status_code == 200
    assert "Secure" in response.headers["set-cookie"]


def test_the_site_owner_can_prove_a_consent_with_its_history_and_wording(client: TestClient) -> None:
    granted = decide(client, ["analytics"])
    decide(client, [])
    client.delete("/consent?site=3", headers={"Origin": ORIGIN})
    url = f"/api/consents/{granted['consent_id']}"
    assert client.get(url).status_code == 401
    assert (
        client.get(url, headers={"Authorization": "Bearer wrong-token-of-good-length-00"}).status_code == 401
    )
    response = client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    proof = response.json()
    assert [d["action"] for d in proof["decisions"]] == ["grant", "update", "withdraw"]
    assert all(d["policy_version"] == "2026-11" and d["policy_current"] for d in proof["decisions"])
    config_hash = proof["decisions"][0]["config_hash"]
    shown = proof["shown"][config_hash]["config"]
    assert shown["texts"]["en"]["title"] == "We value your privacy"
    dumped = json.dumps(proof)
    assert BERLIN.sample_ip not in dumped and '"ip' not in dumped  # neither the address nor a field for one
    missing = client.get(f"/api/consents/{uuid.uuid4()}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert missing.status_code == 404
    assert (
        client.get("/api/consents/not-a-uuid", headers={"Authorization": f"Bearer {TOKEN}"}).status_code
        == 400
    )


def test_the_proof_answers_503_not_500_while_clickhouse_is_down(
    client: TestClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    granted = decide(client, ["analytics"])
    app: Any = client.app
    resources = app.state.resources
    working = resources.db
    with running_standin(tmp_path / "gone") as standin:  # a server that answered once, then went away
        resources.db = connect(f"http://default:@{standin.host}:{standin.port}/gone", connect_timeout=1)
    try:
        response = client.get(f"/api/consents/{granted['consent_id']}",
                              headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        resources.db = working
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.headers["cache-control"] == "no-store"
    assert "try again" in response.json()["error"]
    assert "Traceback" not in caplog.text
    # The driver's own warnings are cut by the log handlers' filter (tests/web/test_accesslog.py); ours
    # never carry the id.
    ours = [r.message for r in caplog.records if r.name.startswith("gateway")]
    assert not [m for m in ours if granted["consent_id"] in m]
    assert app.state.metrics.get("clickhouse", "unavailable") >= 1  # counted as every outage's 503


def test_site_settings_reject_bad_consent_configuration(make_settings: SettingsFactory) -> None:
    from gateway.config.settings import ConfigError

    for extra, key in [
        ("consent_lifetime_days = 400", "consent_lifetime_days"),
        ('banner_scope = "nowhere"', "banner_scope"),
        ('cookie_domain = "not a domain"', "cookie_domain"),
        ('opt_out_defaults = ["ads"]', "opt_out_defaults"),
        ('[[sites.categories]]\nid = "analytics"', "first category must be 'necessary'"),
    ]:
        with pytest.raises(ConfigError, match=key):
            make_settings(toml=SITE.replace("{extra}", extra))
    assert dataclasses.fields(Settings)


# --- issue 16, finding 4: the log holds a grant if and only if its visitor was answered with it --------


@pytest.fixture
def on_standin(
    make_settings: SettingsFactory, city_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, StandIn]]:
    """A gateway storing through the ClickHouse stand-in, as on a server; grants wait 0.5 s for the log."""
    monkeypatch.setattr(consent_api, "DURABLE_TIMEOUT", 0.5)
    monkeypatch.setattr(consent_api, "RETRACT_WAIT", 0.5)
    with running_standin(tmp_path / "clickhouse") as standin:
        settings = make_settings(
            {
                "GATEWAY_CLICKHOUSE_URL": f"http://default:@{standin.host}:{standin.port}/outage",
                "GATEWAY_GEOIP_CITY_DB": str(city_db),
                "GATEWAY_SECRET_KEYS": "k" * 40,
                "GATEWAY_WRITER_FLUSH_INTERVAL": "0.05",
            },
            toml=SITE.replace("{extra}", ""),
        )
        with TestClient(create_app(settings), client=(BERLIN.sample_ip, 50000),
                        base_url="http://stats.example.com", headers={"User-Agent": FIREFOX}) as client:
            yield client, standin
            os.kill(standin.pid, signal.SIGCONT)  # in case a test left it frozen


def drained(client: TestClient) -> None:
    writer: Any = client.app.state.resources.writer  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while writer.stats.pending_rows and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.stats.pending_rows == 0


def test_a_grant_answered_503_in_an_outage_is_not_logged_when_clickhouse_returns(
    on_standin: tuple[TestClient, StandIn],
) -> None:
    client, standin = on_standin
    before = decide(client, ["analytics"])
    standin.stop()
    client.cookies.clear()
    body = {"categories": ["analytics"], "policy_version": "2026-11"}
    grant = client.post("/consent?site=3", json=body, headers={"Origin": ORIGIN})
    assert grant.status_code == 503 and "set-cookie" not in grant.headers
    assert grant.headers["retry-after"] == "5"
    refusal = client.post("/consent?site=3", json=body | {"categories": []}, headers={"Origin": ORIGIN})
    assert refusal.status_code == 200 and refusal.json()["logged"] is False  # it waits in the writer
    standin.restart()
    drained(client)
    assert [(r["consent_id"], r["action"]) for r in log_rows(client)] == [
        (before["consent_id"], "grant"), (refusal.json()["consent_id"], "refuse")]
    metrics: Any = client.app.state.metrics  # type: ignore[attr-defined]
    assert metrics.get("consent_decision", "grant-not-logged") == 1


def test_a_grant_an_insert_may_have_stored_is_followed_by_an_undelivered_row(
    on_standin: tuple[TestClient, StandIn],
) -> None:
    client, standin = on_standin
    decide(client, ["necessary"])  # the connection to ClickHouse is open
    os.kill(standin.pid, signal.SIGSTOP)  # it takes the insert and says nothing: stored or not, who knows
    try:
        body = {"categories": ["analytics"], "policy_version": "2026-11"}
        grant = client.post("/consent?site=3", json=body, headers={"Origin": ORIGIN})
    finally:
        os.kill(standin.pid, signal.SIGCONT)
    assert grant.status_code == 503 and "set-cookie" not in grant.headers
    assert analytics_consent(client) is None  # the visitor keeps the refusal it had
    drained(client)
    rows = log_rows(client)
    assert [r["action"] for r in rows] == ["refuse", "grant", "undelivered"]
    assert rows[1] | {"action": "undelivered"} == rows[2]  # the same decision, marked never delivered
    proof = client.get(f"/api/consents/{rows[1]['consent_id']}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert [d["action"] for d in proof.json()["decisions"]] == ["refuse", "grant", "undelivered"]


# --- issue 16, finding 5: a client that keeps no cookie writes a handful of rows --------------------

BEHIND_PROXY = {"GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32"}  # the client is whoever X-Forwarded-For names
GPC = {"Sec-GPC": "1"}


def cookie_less(client: TestClient, address: str, method: str = "GET", **options: Any) -> Any:
    """One request from ``address`` by a client that kept no cookie from its earlier ones."""
    client.cookies.clear()
    headers = {"X-Forwarded-For": address, "Origin": ORIGIN} | options.pop("headers", {})
    return client.request(method, "/consent?site=3", headers=headers, **options)


def opt_in(client: TestClient) -> dict[str, Any]:
    from gateway.stats.consent import consent_stats
    from gateway.stats.query import parse_query

    app: Any = client.app
    today = time.gmtime()
    q = parse_query({"period": "7d"}, 3, "UTC", dt.date(today.tm_year, today.tm_mon, today.tm_mday),
                    kept_from=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    result = consent_stats(app.state.resources.db, q, app.state.settings.site(3))
    return {"opt_in_rate": result["opt_in_rate"], "totals": result["totals"],
            "gpc": result["automatic"]["gpc"]}


def test_a_thousand_cookie_less_gpc_requests_from_one_client_write_a_handful_of_rows(
    make_client: ClientFactory,
) -> None:
    client = make_client(peer="127.0.0.1", env=BEHIND_PROXY)
    body = {"categories": ["analytics"], "policy_version": "2026-11"}
    for n, categories in enumerate((["analytics"], ["analytics"], [])):  # three visitors use the banner
        decided = cookie_less(client, f"192.0.2.{n + 1}", "POST", json=body | {"categories": categories})
        assert decided.is_success
    before = opt_in(client)
    answers = [cookie_less(client, BERLIN.sample_ip, headers=GPC) for _ in range(1000)]
    assert all(a.status_code == 200 and a.json()["categories"] == ["necessary"] for a in answers)
    assert all(a.json()["decided"] and not a.json()["show_banner"] for a in answers)  # refused, every time
    rows = sum(r["source"] == "gpc" for r in log_rows(client))
    print(f"\n1,000 cookie-less GPC requests from one client wrote {rows} consent_log rows")
    assert rows == sum("set-cookie" in a.headers for a in answers) <= 5
    over = answers[-1]
    assert over.json()["consent"] is None and "set-cookie" not in over.headers
    assert over.json()["automatic"] == {"source": "gpc", "logged": False, "reason": "budget"}
    assert answers[0].json()["automatic"] == {"source": "gpc", "logged": True}
    other = cookie_less(client, GOOGLE_DNS.sample_ip, headers=GPC)  # another client is logged as ever
    assert other.json()["automatic"]["logged"] and other.json()["consent"]["source"] == "gpc"
    after = opt_in(client)
    assert (after["opt_in_rate"], after["totals"]) == (before["opt_in_rate"], before["totals"]) == (
        66.7, {"accept_all": 0, "reject_all": 1, "custom": 2, "withdraw": 0})
    assert after["gpc"] == rows + 1
    metrics: Any = client.app.state.metrics  # type: ignore[attr-defined]
    assert metrics.get("consent_budget", "gpc") == 1000 - rows


def test_an_ipv6_client_is_its_slash_64_and_dnt_spends_the_same_budget(make_client: ClientFactory) -> None:
    client = make_client(extra="honour_dnt = true", peer="127.0.0.1", env=BEHIND_PROXY)
    logged = [cookie_less(client, f"2001:db8:1:2::{n:x}", headers={"DNT": "1"}).json()["automatic"]["logged"]
              for n in range(1, 21)]  # one subscriber rotating its addresses
    assert logged == [True] * 5 + [False] * 15
    neighbour = cookie_less(client, "2001:db8:1:3::1", headers={"DNT": "1"})  # the next /64
    assert neighbour.json()["automatic"] == {"source": "dnt", "logged": True}
    assert [r["source"] for r in log_rows(client)] == ["dnt"] * 6


def test_cookie_less_repeats_get_no_opt_out_default_beyond_the_budget(make_client: ClientFactory) -> None:
    client = make_client(extra='banner_scope = "opt-in-only"', peer="127.0.0.1", env=BEHIND_PROXY)
    answers = [cookie_less(client, GOOGLE_DNS.sample_ip).json() for _ in range(8)]
    assert [a["show_banner"] for a in answers] == [False] * 5 + [True] * 3
    beyond = answers[-1]
    assert (beyond["decided"], beyond["consent"], beyond["reason"]) == (False, None, "no-decision")
    assert beyond["automatic"] == {"source": "regime", "logged": False, "reason": "budget"}
    assert analytics_consent(client) is None  # nothing granted, so nothing tracked: the banner asks
    assert [(r["action"], r["source"]) for r in log_rows(client)] == [("grant", "regime")] * 5


def test_cookie_less_banner_decisions_beyond_the_budget_get_429(make_client: ClientFactory) -> None:
    client = make_client(peer="127.0.0.1", env=BEHIND_PROXY)
    body = {"categories": ["analytics"], "policy_version": "2026-11"}
    answers = [cookie_less(client, BERLIN.sample_ip, "POST", json=body) for _ in range(21)]
    assert [a.status_code for a in answers] == [200] * 20 + [429]
    refused = answers[-1]
    assert 0 < int(refused.headers["retry-after"]) <= BANNER_EVERY and "set-cookie" not in refused.headers
    assert cookie_less(client, BERLIN.sample_ip, "DELETE").status_code == 429
    assert len(log_rows(client)) == 20
    # A visitor who keeps its cookie changes its mind and withdraws as ever; other clients decide.
    client.cookies.set(cookie_name(3), answers[-2].cookies[cookie_name(3)], domain="stats.example.com")
    kept = {"X-Forwarded-For": BERLIN.sample_ip, "Origin": ORIGIN}
    assert client.post("/consent?site=3", json=body | {"categories": []}, headers=kept).status_code == 200
    assert client.delete("/consent?site=3", headers=kept).status_code == 200
    assert cookie_less(client, GOOGLE_DNS.sample_ip, "POST", json=body).status_code == 200
    assert len(log_rows(client)) == 23


def test_rotating_ipv6_slash_64s_in_one_slash_48_buys_no_fresh_budgets(make_client: ClientFactory) -> None:
    client = make_client(peer="127.0.0.1", env=BEHIND_PROXY)
    logged = [cookie_less(client, f"2001:db8:5:{n:x}::1", headers=GPC).json()["automatic"]["logged"]
              for n in range(30)]  # a fresh /64 on every request, from the 65,536 of one /48
    assert logged == [True] * 20 + [False] * 10  # the /48's budget: four times a /64's
    assert cookie_less(client, "2001:db8:6::1", headers=GPC).json()["automatic"]["logged"]  # the next /48
    assert sum(r["source"] == "gpc" for r in log_rows(client)) == 21


def test_a_wall_clock_set_back_does_not_hold_cookie_less_clients(make_client: ClientFactory) -> None:
    client = make_client(peer="127.0.0.1", env=BEHIND_PROXY)
    assert cookie_less(client, BERLIN.sample_ip, headers=GPC).json()["automatic"]["logged"]
    gate: ConsentGate = client.app.state.consent_gate  # type: ignore[attr-defined]
    real_clock = gate.clock
    gate.clock = lambda: real_clock() - 86400  # NTP steps the clock a day back
    try:
        logged = [cookie_less(client, BERLIN.sample_ip, headers=GPC).json()["automatic"]["logged"]
                  for _ in range(5)]
    finally:
        gate.clock = real_clock
    assert logged == [True] * 4 + [False]  # the rest of the burst, as if the clock had not moved


# --- behind a reverse proxy on this host that GATEWAY_TRUSTED_PROXIES leaves out --------------------


def test_behind_an_undeclared_local_proxy_the_budget_still_tells_visitors_apart_and_the_operator_is_told(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(peer="127.0.0.1")  # nginx on this host, GATEWAY_TRUSTED_PROXIES not set
    app: Any = client.app
    assert app.state.trusted_proxies.misconfigured is False
    answers = [cookie_less(client, BERLIN.sample_ip, headers=GPC).json() for _ in range(20)]
    assert [a["automatic"]["logged"] for a in answers] == [True] * 5 + [False] * 15  # it was 20 rows
    other = cookie_less(client, GOOGLE_DNS.sample_ip, headers=GPC).json()  # another visitor, its own budget
    assert other["automatic"]["logged"]
    assert other["regime"] == "opt-in"  # the header is believed for nothing else: no US geography
    assert app.state.trusted_proxies.misconfigured is True
    assert app.state.metrics.get("proxy", "untrusted-forwarded") == 21
    warnings = [r for r in caplog.records if "GATEWAY_TRUSTED_PROXIES" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"  # once per process, not per request
    assert BERLIN.sample_ip not in caplog.text and "127.0.0.1" not in caplog.text


# --- issue 16, finding 4, review: the undelivered twin is never refused -----------------------------


def test_the_undelivered_row_is_taken_even_when_tracking_load_has_filled_the_writer(
    on_standin: tuple[TestClient, StandIn],
) -> None:
    client, standin = on_standin
    decide(client, ["necessary"])  # the connection to ClickHouse is open
    writer: Any = client.app.state.resources.writer  # type: ignore[attr-defined]
    writer._max_pending = 1  # as when hits pile up during the hang: the grant's row is the last one taken
    os.kill(standin.pid, signal.SIGSTOP)  # it takes the insert and says nothing: stored or not, who knows
    try:
        body = {"categories": ["analytics"], "policy_version": "2026-11"}
        grant = client.post("/consent?site=3", json=body, headers={"Origin": ORIGIN})
    finally:
        os.kill(standin.pid, signal.SIGCONT)
    assert grant.status_code == 503
    drained(client)
    assert [r["action"] for r in log_rows(client)] == ["refuse", "grant", "undelivered"]


async def test_a_grant_the_writer_gives_up_on_at_shutdown_gets_its_undelivered_row_before_the_last_attempt(
    db: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The writer closes while a grant waits on an insert that hangs; the insert may store the row."""
    migrate(db)
    from tests.storage.test_writer import HeldInsert, until

    held = HeldInsert(db)
    writer = BatchWriter(held, flush_interval=0.02)  # type: ignore[arg-type]
    await writer.start()
    state = SimpleNamespace(resources=SimpleNamespace(writer=writer), metrics=Metrics())
    consent = uuid.uuid4()
    row = (consent, 3, dt.datetime.now(dt.UTC), "grant", ["analytics"], "2026-11", "", "en", "banner", "", "",
           "gw-test")
    waits = Waits(durable=30.0, retract=consent_api.RETRACT_WAIT)  # the request is still waiting at close
    answer = asyncio.create_task(log_decision(state, [row], grant=True, waits=waits))
    await until(held.started.is_set)
    closing = asyncio.create_task(writer.close(timeout=0.2))
    await until(lambda: writer.stats.pending_rows == 2)  # the grant's row and its undelivered twin
    held.release.set()  # ClickHouse answers again: the hung insert stores the grant after all
    assert await answer is False  # answered 503
    assert await closing == 0
    assert state.metrics.get("consent_decision", "grant-undelivered") == 1
    stored = db.query("SELECT toString(action) FROM consent_log ORDER BY action")
    assert stored == [("grant",), ("undelivered",)]
