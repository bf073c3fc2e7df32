"""Recording decisions: a decision the browser will not keep (cross-site) is logged with its
``undelivered`` twin, proves what was answered, and counts in no statistics; one it keeps counts."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from gateway.consent.cookie import cookie_name
from tests.consent.conftest import ORIGIN, TOKEN, ClientFactory, decide, log_rows

ALL = ["necessary", "analytics", "marketing"]
# What Chrome sends with the banner's fetch from a page on another site.
CROSS_SITE = {"Origin": ORIGIN, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors",
              "Sec-Fetch-Dest": "empty"}
SAME_SITE = CROSS_SITE | {"Sec-Fetch-Site": "same-site"}


def post(client: TestClient, categories: list[str], headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/consent?site=3", json={"categories": categories, "policy_version": "2026-11"},
                           headers=headers)
    assert response.status_code == 200, response.text
    assert cookie_name(3) in response.headers["set-cookie"]  # the browser's tools then say why it is dropped
    return dict(response.json())


def consent_figures(client: TestClient) -> dict[str, Any]:
    """The site's consent statistics of the last 7 days (today among them, at any hour)."""
    response = client.get("/dashboard/3/consent.json?period=7d", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    body = response.json()
    return {"totals": body["totals"], "opt_in_rate": body["opt_in_rate"], "automatic": body["automatic"]}


def test_a_cross_site_decision_is_logged_and_proved_but_not_counted(make_client: ClientFactory) -> None:
    client = make_client()
    granted = post(client, ALL, CROSS_SITE)
    client.cookies.clear()  # what the browser does with a SameSite=Lax cookie from a cross-site answer
    refused = post(client, [], CROSS_SITE)
    client.cookies.clear()
    assert [(r["consent_id"], r["action"]) for r in log_rows(client)] == [
        (granted["consent_id"], "grant"), (granted["consent_id"], "undelivered"),
        (refused["consent_id"], "refuse"), (refused["consent_id"], "undelivered")]
    proof = client.get(f"/api/consents/{granted['consent_id']}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert [d["action"] for d in proof.json()["decisions"]] == ["grant", "undelivered"]
    nothing = {"accept_all": 0, "reject_all": 0, "custom": 0, "withdraw": 0}
    assert consent_figures(client)["totals"] == nothing
    assert consent_figures(client)["opt_in_rate"] is None
    metrics: Any = client.app.state.metrics  # type: ignore[attr-defined]
    assert metrics.get("consent_decision", "grant-cross-site") == 1
    assert metrics.get("consent_decision", "grant") == 0
    # The visitor decides again where the gateway is same-site with the page: that decision counts, once.
    post(client, ALL, SAME_SITE)
    figures = consent_figures(client)
    assert figures["totals"] == nothing | {"accept_all": 1}
    assert figures["opt_in_rate"] == 100.0


def test_a_same_site_or_server_side_grant_counts(make_client: ClientFactory) -> None:
    client = make_client()
    post(client, ALL, SAME_SITE)
    client.cookies.clear()
    decide(client, ["necessary", "analytics"])  # no Sec-Fetch-Site: a server, or an older browser
    assert [r["action"] for r in log_rows(client)] == ["grant", "grant"]
    figures = consent_figures(client)
    totals = figures["totals"]
    assert (totals["accept_all"], totals["custom"], figures["opt_in_rate"]) == (1, 1, 100.0)


def test_a_cross_site_request_carrying_the_cookie_decides_as_any_other(make_client: ClientFactory) -> None:
    """A browser that sent the cookie cross-site keeps the new one: nothing is marked, and a withdrawal
    supersedes the cookie it ends."""
    client = make_client()
    granted = post(client, ALL, SAME_SITE)
    old = client.cookies[cookie_name(3)]
    withdrawn = client.delete("/consent?site=3", headers=CROSS_SITE)
    assert withdrawn.status_code == 200 and withdrawn.json()["consent_id"] == granted["consent_id"]
    assert [r["action"] for r in log_rows(client)] == ["grant", "withdraw"]
    client.cookies.clear()
    client.cookies.set(cookie_name(3), old, domain="stats.example.com")
    assert client.get("/consent?site=3").json()["reason"] == "superseded"


def test_a_top_level_navigation_keeps_its_cookie_and_is_not_marked(make_client: ClientFactory) -> None:
    client = make_client()
    post(client, ALL, CROSS_SITE | {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})
    assert [r["action"] for r in log_rows(client)] == ["grant"]


def test_a_cross_site_cookie_kept_after_all_is_superseded_by_its_withdrawal_after_a_restart(
    make_client: ClientFactory,
) -> None:
    """Should a browser keep the cookie of a decision marked undelivered, a later decision on its id still
    supersedes it, on every instance and after a restart (the ledger is rebuilt from the log)."""
    first = make_client()
    post(first, ALL, CROSS_SITE)  # this client keeps the cookie all the same
    old = first.cookies[cookie_name(3)]
    assert first.delete("/consent?site=3", headers=SAME_SITE).status_code == 200
    assert [r["action"] for r in log_rows(first)] == ["grant", "undelivered", "withdraw"]
    second = make_client()  # another instance, starting now: it loads the ledger from the log
    second.cookies.set(cookie_name(3), old, domain="stats.example.com")
    assert second.get("/consent?site=3").json()["reason"] == "superseded"
