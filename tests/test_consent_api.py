"""The consent API as the banner and the site owner use it, against real embedded ClickHouse.

Each decision is checked twice: what the visitor's browser gets (receipt, cookie, state on the next
GET) and what the consent log proves afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.consent import ConsentGate, cookie_name
from gateway.settings import Settings
from gateway.storage.clickhouse import connect
from gateway.storage.writer import Overloaded
from tests.conftest import SettingsFactory
from tests.geoip_fixture import BERLIN, GOOGLE_DNS
from tests.support.clickhouse_standin import running_standin

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
        extra: str = "", policy: str = "2026-11", peer: str = BERLIN.sample_ip, keys: str = "k" * 40
    ) -> TestClient:
        settings = make_settings(
            {
                "GATEWAY_CLICKHOUSE_URL": clickhouse_url,
                "GATEWAY_GEOIP_CITY_DB": str(city_db),
                "GATEWAY_SECRET_KEYS": keys,
                "GATEWAY_INSTANCE_NAME": "gw-test",
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
        "FROM consent_log ORDER BY ts, ingested_at"
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
    assert "try again" in response.json()["error"]
    assert "Traceback" not in caplog.text


def test_site_settings_reject_bad_consent_configuration(make_settings: SettingsFactory) -> None:
    from gateway.settings import ConfigError

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
