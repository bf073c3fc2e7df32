"""The visitor's own data from the banner's endpoints: download it, erase it, never anyone else's."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.rights import audit, data
from gateway.rights.service import Rights, Unavailable
from gateway.storage.clickhouse import connect
from gateway.storage.schema import EVENTS_TABLE
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
from tests.support.clickhouse_standin import running_standin
from tests.support.privacy import IP_SHAPED


def visitor(client: TestClient, hits: int) -> str:
    """A new browser: accepts, browses ``hits`` pages; returns its cookie."""
    client.cookies.clear()
    decide(client, ["analytics"])
    for page in range(hits):
        assert track(client, url=f"https://shop.example.com/p{page}?q=brake") in (200, 204)
    return cookie(client)


def as_visitor(client: TestClient, value: str) -> None:
    client.cookies.clear()
    client.cookies.set("cg_consent_3", value, domain="stats.example.com")


def test_the_export_holds_my_history_and_events_and_nothing_of_anyone_else(client: TestClient) -> None:
    mine, theirs = visitor(client, 3), visitor(client, 2)
    as_visitor(client, mine)
    withdraw(client)
    stored(client)
    response = client.get("/consent/data?site=3", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith('attachment; filename="consent-data-3-')
    assert response.headers["access-control-allow-origin"] == ORIGIN
    document = response.json()
    me = str(decoded(client, mine).consent_id)
    assert document["format"] == "consent-gateway.visitor-data"
    assert (document["version"], document["site"]) == (1, 3)
    assert document["consent_ids"] == [me]
    assert [d["action"] for d in document["decisions"]] == ["grant", "withdraw"]
    assert {d["consent_id"] for d in document["decisions"]} == {me}
    assert document["event_count"] == 3 == len(document["events"])
    assert {e["consent_id"] for e in document["events"]} == {me}
    assert [e["url_path"] for e in document["events"]] == ["/p0", "/p1", "/p2"]
    assert all(e["ts"].endswith("Z") and e["city_name"] for e in document["events"])
    assert str(decoded(client, theirs).consent_id) not in response.text
    assert not re.search(IP_SHAPED, json.dumps(document["events"])), "no IP in an export"


def test_without_my_cookie_there_is_nothing_to_read_or_erase(client: TestClient) -> None:
    real = visitor(client, 1)
    forged = real[:-3] + ("AAA" if not real.endswith("AAA") else "BBB")
    for jar in ({}, {"cg_consent_3": forged}, {"cg_consent_4": real}, {"cg_consent_3": "x" * 600}):
        client.cookies.clear()
        client.cookies.update(jar)
        for method in ("GET", "DELETE"):
            response = client.request(method, "/consent/data?site=3", headers={"Origin": ORIGIN})
            assert response.status_code == 404, (jar, method)
            assert "no consent cookie" in response.json()["error"]
    assert len(stored(client)) == 1


def test_erasing_removes_every_event_and_leaves_a_refusal_and_the_proof(client: TestClient) -> None:
    mine, theirs = visitor(client, 4), visitor(client, 2)
    me = decoded(client, mine).consent_id
    as_visitor(client, mine)
    response = client.delete("/consent/data?site=3&language=de", headers={"Origin": ORIGIN})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["erased"] == 4 and body["consent"]["categories"] == ["necessary"]
    assert body["consent"]["consent_id"] == str(me)
    assert decoded(client, cookie(client)).categories == {"necessary"}
    assert stored(client, f"consent_id = '{me}'") == []
    assert len(stored(client, f"consent_id = '{decoded(client, theirs).consent_id}'")) == 2
    app: Any = client.app
    db = app.state.resources.db
    log = db.query("SELECT toString(action), categories, language FROM consent_log "
                   "WHERE consent_id = {c:UUID} ORDER BY ts", {"c": me})
    assert log == [("grant", ["analytics", "necessary"], ""), ("erase", ["necessary"], "de")]
    audit = db.query("SELECT toString(kind), toString(subject), consent_id, toString(requested_by), events "
                     "FROM rights_requests ORDER BY ts")
    assert audit == [("erase", "consent", me, "visitor", 4)]
    # Still my data to ask for: the history remains, the events are gone.
    assert client.get("/consent/data?site=3").json()["event_count"] == 0
    track(client, with_cookie=mine)
    assert stored(client, f"consent_id = '{me}'") == []


def test_a_hit_sent_just_before_the_erasure_does_not_survive_it(make_client: ClientFactory) -> None:
    client = make_client(GATEWAY_WRITER_FLUSH_INTERVAL="30")  # hits wait in the writer's buffer
    mine = visitor(client, 0)
    as_visitor(client, mine)
    for _ in range(5):
        track(client)
    app: Any = client.app
    assert app.state.resources.writer.stats.pending_rows >= 5  # still buffered: not in ClickHouse yet
    time.sleep(0.05)
    response = client.delete("/consent/data?site=3", headers={"Origin": ORIGIN})
    assert response.json()["erased"] == 5
    assert stored(client, f"consent_id = '{decoded(client, mine).consent_id}'") == []


def test_rows_another_instance_writes_just_after_the_delete_are_erased_too_and_the_visitor_gets_200(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several gateways on one ClickHouse: another instance, which has not learnt of the erasure yet,
    flushes rows of the visitor stamped just before it right after this instance's DELETE."""
    mine = visitor(client, 2)
    me = decoded(client, mine).consent_id
    app: Any = client.app
    db = app.state.resources.db
    assert len(stored(client, f"consent_id = '{me}'")) == 2
    (late,) = db.query(f"SELECT {', '.join(EVENTS_TABLE.columns)} FROM events WHERE consent_id = {{c:UUID}} "
                       "LIMIT 1", {"c": me})
    deletes = []
    real_delete = data.delete_events

    def delete_then_another_instance_flushes(*args: Any) -> None:
        real_delete(*args)
        deletes.append(args)
        if len(deletes) == 1:
            db.insert("events", [late] * 3, EVENTS_TABLE.columns)

    monkeypatch.setattr(data, "delete_events", delete_then_another_instance_flushes)
    as_visitor(client, mine)
    response = client.delete("/consent/data?site=3", headers={"Origin": ORIGIN})
    assert response.status_code == 200, response.text
    assert len(deletes) == 2  # one more pass took the late rows
    assert stored(client, f"consent_id = '{me}'") == []


def test_a_foreign_origin_cannot_erase_and_one_cookie_cannot_flood(client: TestClient) -> None:
    visitor(client, 1)
    foreign = client.delete("/consent/data?site=3", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert len(stored(client)) == 1
    codes = [client.get("/consent/data?site=3").status_code for _ in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429
    assert counter(client, "rights", "visitor-erase") == 0


def test_a_preflight_allows_the_site_and_not_others(client: TestClient) -> None:
    asked = {"Access-Control-Request-Method": "DELETE"}
    ok = client.options("/consent/data?site=3", headers={"Origin": ORIGIN} | asked)
    assert ok.status_code == 204 and "DELETE" in ok.headers["access-control-allow-methods"]
    assert client.options("/consent/data?site=3", headers={"Origin": "https://evil.example"} | asked
                          ).status_code == 403


def test_storage_down_answers_503_and_claims_no_erasure(client: TestClient, tmp_path: Path) -> None:
    mine = visitor(client, 2)
    me = decoded(client, mine).consent_id
    app: Any = client.app
    rights = app.state.rights
    working = rights.db
    with running_standin(tmp_path / "gone") as standin:  # a server that answered once, then went away
        rights.db = connect(f"http://default:@{standin.host}:{standin.port}/gone", connect_timeout=1)
    try:
        for method in ("GET", "DELETE"):
            response = client.request(method, "/consent/data?site=3", headers={"Origin": ORIGIN})
            assert response.status_code == 503, (method, response.text)
            assert response.headers["retry-after"] and "try again" in response.json()["error"]
    finally:
        rights.db = working
    assert len(stored(client, f"consent_id = '{me}'")) == 2
    assert working.query("SELECT count() FROM consent_log WHERE action = 'erase'") == [(0,)]


def test_an_erasure_logged_before_clickhouse_failed_it_is_completed_in_the_background(
        client: TestClient, tmp_path: Path) -> None:
    me = decoded(client, visitor(client, 2)).consent_id
    app: Any = client.app
    rights: Rights = app.state.rights
    site = app.state.settings.site(3)
    now = time.time()
    portal: Any = client.portal
    refusal = portal.call(rights.refusal, site, me, now)
    working = rights.db
    with running_standin(tmp_path / "gone") as standin:
        rights.db = connect(f"http://default:@{standin.host}:{standin.port}/gone", connect_timeout=1)
    try:
        with pytest.raises(Unavailable):  # the log row went through the writer; the DELETE could not
            portal.call(rights.erase, site, [refusal], audit.Request(3, "erase", me, "cli"), now)
    finally:
        rights.db = working
    assert working.query("SELECT count() FROM consent_log WHERE action = 'erase'") == [(1,)]
    deadline = time.monotonic() + 30
    while stored(client, f"consent_id = '{me}'") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stored(client, f"consent_id = '{me}'") == []


def test_a_head_request_reads_like_get_and_erases_nothing(client: TestClient) -> None:
    # Starlette answers HEAD wherever GET is routed; only DELETE may erase (found by the fuzz test).
    mine = visitor(client, 2)
    me = decoded(client, mine).consent_id
    as_visitor(client, mine)
    head = client.head("/consent/data?site=3", headers={"Origin": ORIGIN})
    assert head.status_code == 200 and "attachment" in head.headers["content-disposition"]
    assert len(stored(client, f"consent_id = '{me}'")) == 2
    assert cookie(client) == mine and counter(client, "rights", "visitor-erase") == 0
