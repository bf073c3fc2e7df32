"""Every decision supersedes the earlier cookies, on the server: an attacker replaying an old grant
cookie, and a visitor changing their mind, as the gateway sees them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from tests.rights.conftest import (
    ORIGIN,
    ClientFactory,
    cookie,
    counter,
    decide,
    decoded,
    stored,
    track,
    withdraw,
)


def granted_with_a_stored_hit(client: TestClient) -> str:
    decide(client, ["analytics"])
    old = cookie(client)
    assert track(client) in (200, 204)
    assert len(stored(client)) >= 1
    return old


def test_a_grant_cookie_replayed_after_a_withdrawal_stores_nothing(client: TestClient) -> None:
    old = granted_with_a_stored_hit(client)
    before = len(stored(client))
    withdraw(client)
    track(client, with_cookie=old)
    track(client, with_cookie=old)
    assert len(stored(client)) == before
    assert counter(client, "consent_cookie", "superseded") == 2


def test_a_refusal_an_update_without_analytics_and_an_erasure_each_supersede_the_grant(
        client: TestClient) -> None:
    changes: dict[str, Callable[[], object]] = {
        "refusal": lambda: decide(client, []), "update": lambda: decide(client, ["marketing"]),
        "erasure": lambda: client.delete("/consent/data?site=3", headers={"Origin": ORIGIN})}
    for name, change in changes.items():
        client.cookies.clear()
        old = granted_with_a_stored_hit(client)
        mine = f"consent_id = '{decoded(client, old).consent_id}'"
        kept = 0 if name == "erasure" else len(stored(client, mine))
        change()
        assert track(client, with_cookie=old) in (200, 204), name  # answered like any hit without consent
        assert len(stored(client, mine)) == kept, name
    assert counter(client, "consent_cookie", "superseded") == 3


def test_a_superseded_cookie_reads_as_no_decision_and_the_banner_asks_again(client: TestClient) -> None:
    old = granted_with_a_stored_hit(client)
    withdraw(client)
    client.cookies.clear()
    answer = client.get("/consent?site=3", headers={"Cookie": f"cg_consent_3={old}"}).json()
    assert answer["show_banner"] and answer["reason"] == "superseded" and answer["consent"] is None


def test_a_new_grant_after_a_withdrawal_is_a_new_visitor_even_from_the_old_cookie(client: TestClient) -> None:
    old = granted_with_a_stored_hit(client)
    first = decoded(client, old)
    withdraw(client)
    decide(client, ["analytics"])
    again = decoded(client, cookie(client))
    assert again.consent_id == first.consent_id and again.visitor_id not in (0, first.visitor_id)
    # Replaying the old grant to decide again must not revive its visitor id either.
    client.cookies.clear()
    response = client.post("/consent?site=3", json={"categories": ["analytics"], "policy_version": "1"},
                           headers={"Origin": ORIGIN, "Cookie": f"cg_consent_3={old}"})
    assert response.status_code == 200
    assert decoded(client, cookie(client)).visitor_id not in (first.visitor_id, again.visitor_id)
    visitors = {row[1] for row in stored(client)}
    track(client)
    assert {row[1] for row in stored(client)} - visitors == {decoded(client, cookie(client)).visitor_id}


def test_decisions_within_one_second_still_supersede(client: TestClient) -> None:
    app: Any = client.app
    second = float(int(time.time()))
    app.state.consent_gate.clock = lambda: second + 0.5  # every decision below in the same second
    decide(client, ["analytics"])
    old = cookie(client)
    withdraw(client)
    decide(client, ["analytics"])
    newest = cookie(client)
    withdraw(client)
    stamps = [decoded(client, value).decided_at for value in (old, newest)]
    assert stamps[0] < stamps[1]
    before = len(stored(client))
    app.state.consent_gate.clock = time.time
    track(client, with_cookie=old)
    track(client, with_cookie=newest)
    assert len(stored(client)) == before
    assert counter(client, "consent_cookie", "superseded") == 2


def test_a_hit_stamped_ahead_by_the_visitors_clock_does_not_outlive_the_withdrawal(
        client: TestClient) -> None:
    decide(client, ["analytics"])
    mine = f"consent_id = '{decoded(client, cookie(client)).consent_id}'"
    track(client, cdt=str(int(time.time()) + 300))  # a clock five minutes fast
    withdraw(client)
    app: Any = client.app
    (withdrawn,) = app.state.resources.db.query(
        f"SELECT max(ts) FROM consent_log WHERE {mine} AND action = 'withdraw'")[0]
    assert len(stored(client, mine)) == 1
    assert stored(client, f"{mine} AND ts >= '{withdrawn}'") == []


def test_the_ledger_is_rebuilt_from_the_consent_log_at_start(make_client: ClientFactory) -> None:
    first = make_client()
    old = granted_with_a_stored_hit(first)
    withdraw(first)
    before = len(stored(first))
    first.__exit__(None, None, None)
    second = make_client()
    app: Any = second.app
    assert len(app.state.ledger) == 1
    track(second, with_cookie=old)
    assert len(stored(second)) == before
    assert counter(second, "consent_cookie", "superseded") == 1


def test_a_grant_answered_503_and_marked_undelivered_supersedes_nothing(make_client: ClientFactory) -> None:
    """The visitor kept the cookie they had: a later grant they never received (logged all the same,
    then marked ``undelivered``) must not make it read as superseded, by the poll or after a restart."""
    first = make_client()
    old = granted_with_a_stored_hit(first)
    consent = decoded(first, old)
    app: Any = first.app
    later = consent.decided_at + 1
    for action in ("grant", "undelivered"):
        app.state.resources.db.command(
            "INSERT INTO consent_log (consent_id, site_id, ts, action, categories, policy_version, source) "
            f"VALUES ('{consent.consent_id}', 3, fromUnixTimestamp64Milli({later * 1000}), '{action}', "
            "['necessary', 'analytics', 'marketing'], '1', 'banner')")
    time.sleep(1.5)  # a few polls of the ledger sync
    before = len(stored(first))
    assert track(first, with_cookie=old) in (200, 204)
    assert len(stored(first)) == before + 1
    first.__exit__(None, None, None)
    second = make_client()
    assert track(second, with_cookie=old) in (200, 204)
    assert len(stored(second)) == before + 2
    assert counter(second, "consent_cookie", "superseded") == 0
