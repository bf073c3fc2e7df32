"""The site owner answers data requests with the site token: by consent id and by the site's user id."""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.testclient import TestClient

from tests.rights.conftest import OTHER_TOKEN, TOKEN, cookie, decide, decoded, stored, track

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def browser(client: TestClient, hits: int, uid: str = "") -> uuid.UUID:
    client.cookies.clear()
    decide(client, ["analytics"])
    for page in range(hits):
        extra: dict[str, Any] = {"uid": uid} if uid else {}
        track(client, url=f"https://shop.example.com/account/{page}", **extra)
    return decoded(client, cookie(client)).consent_id


def audit(client: TestClient) -> list[tuple[Any, ...]]:
    app: Any = client.app
    return list(app.state.resources.db.query(
        "SELECT toString(kind), toString(subject), consent_id, toString(requested_by), events "
        "FROM rights_requests ORDER BY ts"))


def test_export_and_erase_by_consent_id(client: TestClient) -> None:
    mine, theirs = browser(client, 3), browser(client, 1)
    client.cookies.clear()
    assert client.get(f"/api/consents/{mine}/data").status_code == 401
    assert client.get(f"/api/consents/{mine}/data", headers={"Authorization": f"Bearer {OTHER_TOKEN}"}
                      ).status_code == 404  # the other site's token sees nothing of this site
    assert client.get(f"/api/consents/{uuid.uuid4()}/data", headers=BEARER).status_code == 404
    assert client.get("/api/consents/not-an-id/data", headers=BEARER).status_code == 400
    exported = client.get(f"/api/consents/{mine}/data", headers=BEARER)
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    assert exported.json()["event_count"] == 3 and exported.json()["consent_ids"] == [str(mine)]
    erased = client.delete(f"/api/consents/{mine}/data", headers=BEARER)
    assert erased.json() == {"erased": 3, "consent_ids": [str(mine)]}
    assert stored(client, f"consent_id = '{mine}'") == []
    assert len(stored(client, f"consent_id = '{theirs}'")) == 1
    assert audit(client) == [("export", "consent", mine, "site-token", 3), ("erase", "consent", mine,
                                                                             "site-token", 3)]


def test_an_erasure_by_the_owner_supersedes_the_visitors_cookie_even_within_the_same_second(
        client: TestClient) -> None:
    app: Any = client.app
    second = float(int(app.state.consent_gate.clock()))
    app.state.consent_gate.clock = lambda: second + 0.5  # the grant and the erasure in one second
    mine = browser(client, 1)
    kept = cookie(client)
    client.delete(f"/api/consents/{mine}/data", headers=BEARER)
    app.state.consent_gate.clock = time.time
    track(client, with_cookie=kept)
    assert stored(client, f"consent_id = '{mine}'") == []
    assert client.get("/consent?site=3").json()["reason"] == "superseded"


def test_export_and_erase_by_the_sites_user_id(client: TestClient) -> None:
    laptop = browser(client, 2, uid="u-1001")
    laptop_cookie = cookie(client)
    phone = browser(client, 1, uid="u-1001")
    stranger = browser(client, 2)
    client.cookies.clear()
    path = "/api/user-data?site=3&uid=u-1001"
    assert client.get("/api/user-data?site=4&uid=u-1001", headers=BEARER).status_code == 403
    assert client.get("/api/user-data?site=3&uid=", headers=BEARER).status_code == 400
    assert client.get("/api/user-data?site=3&uid=nobody", headers=BEARER).status_code == 404
    client.cookies.clear()
    client.cookies.set("cg_consent_3", laptop_cookie, domain="stats.example.com")
    track(client, url="https://shop.example.com/signed-out")  # the laptop's visit without the uid
    client.cookies.clear()
    document = client.get(path, headers=BEARER).json()
    assert sorted(document["consent_ids"]) == sorted([str(laptop), str(phone)])
    assert document["event_count"] == 3  # only the events that carry the user id
    assert "/signed-out" not in str(document)
    assert "u-1001" not in str(document), "the user id is stored as a keyed hash only"
    assert client.delete(path, headers=BEARER).json()["erased"] == 4  # the laptop's browser, whole
    assert len(stored(client)) == 2 and {row[0] for row in stored(client)} == {str(stranger)}
    nil = uuid.UUID(int=0)
    assert audit(client) == [("export", "uid", nil, "site-token", 3), ("erase", "uid", nil, "site-token", 4)]


def test_a_head_request_reads_like_get_and_erases_nothing(client: TestClient) -> None:
    # Starlette answers HEAD wherever GET is routed; only DELETE may erase (found by the fuzz test).
    mine = browser(client, 2, uid="u-7")
    client.cookies.clear()
    for path in (f"/api/consents/{mine}/data", "/api/user-data?site=3&uid=u-7"):
        head = client.head(path, headers=BEARER)
        assert head.status_code == 200 and "attachment" in head.headers["content-disposition"]
    assert len(stored(client, f"consent_id = '{mine}'")) == 2
    assert [row[0] for row in audit(client)] == ["export", "export"]
