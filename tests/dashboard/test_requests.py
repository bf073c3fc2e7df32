"""The "Data requests" page: an admin looks a visitor's consent id up, exports, erases; the audit.

A real gateway on embedded ClickHouse with the rights tests' sites (3 and 4): the visitor decides
through ``POST /consent`` and browses through ``/matomo.php``, then admin ``anna`` works from the
dashboard. ``victor`` views site 3 but is no admin.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.consent.cookie import cookie_name
from gateway.rights.service import Unavailable
from tests.conftest import SettingsFactory
from tests.dashboard.test_templates import parse
from tests.geoip_fixture import BERLIN
from tests.rights.conftest import CHROME, SITES, TOKEN, decide, stored, track
from tests.support.dashboard import PASSWORD

PAGE = "/dashboard/3/requests"


@pytest.fixture
def client(make_settings: SettingsFactory, clickhouse_url: str, city_db: Path) -> Iterator[TestClient]:
    settings = make_settings({
        "GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_GEOIP_CITY_DB": str(city_db),
        "GATEWAY_SECRET_KEYS": "k" * 40, "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
        "GATEWAY_WRITER_FLUSH_INTERVAL": "0.05",
    }, toml=SITES)
    app = create_app(settings)
    app.state.users.add("anna", PASSWORD, "admin", [])
    app.state.users.add("victor", PASSWORD, "viewer", [3])
    with TestClient(app, client=("127.0.0.1", 50000), base_url="https://stats.example.com",
                    headers={"User-Agent": CHROME, "X-Forwarded-For": BERLIN.sample_ip}) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def log_in(client: TestClient, name: str = "anna") -> str:
    """Log in through the form; returns the CSRF token for the session's forms."""
    csrf = csrf_of(client.get("/dashboard/login").text)
    answer = client.post("/dashboard/login", data={"username": name, "password": PASSWORD, "csrf": csrf},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/dashboard").text)


def visitor(client: TestClient, pageviews: int = 2) -> str:
    """A visitor who accepts analytics and views pages; returns the consent id from their receipt."""
    if cookie_name(3) in client.cookies:
        client.cookies.delete(cookie_name(3))  # a new browser, still logged in to the dashboard
    consent_id = str(decide(client, ["analytics"])["consent_id"])
    for _ in range(pageviews):
        assert track(client) in (200, 204)
    assert len(stored(client, f"consent_id = '{consent_id}'")) == pageviews
    return consent_id


def page_json(client: TestClient, consent_id: str = "") -> dict[str, Any]:
    answer = client.get(f"{PAGE}.json", params={"consent": consent_id} if consent_id else None)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_an_admin_looks_an_id_up_and_sees_its_decisions_and_events(client: TestClient) -> None:
    consent_id = visitor(client)
    log_in(client)
    assert 'href="/dashboard/3/requests">Data requests</a>' in client.get("/dashboard/3").text
    page = client.get(PAGE, params={"consent": f"  {consent_id.upper()} "})
    assert page.status_code == 200
    assert f"<code>{consent_id}</code>" in page.text and 'id="event-count">2<' in page.text
    assert "Granted" in page.text and "analytics" in page.text and "Banner" in page.text
    for tag, attrs in parse(page.text).tags:  # the CSP allows nothing inline
        assert "style" not in attrs and tag != "style", (tag, attrs)
        assert tag != "script" or "src" in attrs, attrs
    data = page_json(client, consent_id)
    lookup = data["lookup"]
    assert (lookup["found"], lookup["event_count"], lookup["current_policy_version"]) == (True, 2, "1")
    assert [(d["action"], d["categories"], d["source"]) for d in lookup["decisions"]] == [
        ("grant", ["analytics", "necessary"], "banner")]
    assert data["requests"] == []  # a lookup is not a data request
    assert page_json(client)["lookup"] is None


def test_export_downloads_the_document_and_the_audit_names_the_admin(client: TestClient) -> None:
    consent_id = visitor(client)
    csrf = log_in(client)
    answer = client.post(f"{PAGE}/export", data={"csrf": csrf, "consent": consent_id})
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == f'attachment; filename="consent-data-3-{consent_id}.json"'
    assert answer.headers["cache-control"] == "no-store"
    document = answer.json()
    assert document["consent_ids"] == [consent_id] and document["event_count"] == 2
    assert len(stored(client, f"consent_id = '{consent_id}'")) == 2  # an export changes nothing
    [entry] = page_json(client)["requests"]
    keys = ("kind", "consent_id", "requested_by", "operator", "events", "decisions")
    assert {k: entry[k] for k in keys} == {"kind": "export", "consent_id": consent_id,
                                           "requested_by": "dashboard", "operator": "anna", "events": 2,
                                           "decisions": 1}
    html = client.get(PAGE).text
    assert "Dashboard (anna)" in html and f'href="{PAGE}?consent={consent_id}"' in html


def test_erasing_takes_a_confirmation_then_deletes_and_is_audited(client: TestClient) -> None:
    consent_id = visitor(client)
    csrf = log_in(client)
    form = {"csrf": csrf, "consent": consent_id}
    confirm = client.post(f"{PAGE}/erase", data=form)
    assert confirm.status_code == 200
    assert "Yes, erase 2 events" in confirm.text and 'name="confirm" value="yes"' in confirm.text
    assert "cannot be undone" in confirm.text
    assert len(stored(client, f"consent_id = '{consent_id}'")) == 2  # nothing happened yet
    done = client.post(f"{PAGE}/erase", data={**form, "confirm": "yes"}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"{PAGE}?consent={consent_id}&done=erase"
    assert "Erased 2 events" in client.get(done.headers["location"]).text
    assert stored(client, f"consent_id = '{consent_id}'") == []
    data = page_json(client, consent_id)
    assert data["lookup"]["event_count"] == 0
    assert [d["action"] for d in data["lookup"]["decisions"]] == ["grant", "erase"]
    newest = data["requests"][0]
    assert (newest["kind"], newest["requested_by"], newest["operator"], newest["events"]) == (
        "erase", "dashboard", "anna", 2)
    # The visitor's cookie still says "granted": the gateway now drops its hits.
    track(client)
    assert stored(client, f"consent_id = '{consent_id}'") == []
    # A crafted link cannot claim an erasure the audit does not hold.
    other = visitor(client, pageviews=1)
    assert "Erased" not in client.get(PAGE, params={"consent": other, "done": "erase"}).text


def test_erase_and_export_need_the_csrf_token(client: TestClient) -> None:
    consent_id = visitor(client)
    log_in(client)
    for path in ("erase", "export"):
        for csrf in ({}, {"csrf": "forged"}):
            answer = client.post(f"{PAGE}/{path}", data={**csrf, "consent": consent_id, "confirm": "yes"})
            assert answer.status_code == 403, (path, csrf)
    assert len(stored(client, f"consent_id = '{consent_id}'")) == 2
    assert page_json(client)["requests"] == []
    # A script (the session's own, same origin) must confirm too.
    form = {"csrf": csrf_of(client.get(PAGE).text), "consent": consent_id}
    answer = client.post(f"{PAGE}/erase", data=form, headers={"Accept": "application/json"})
    assert answer.status_code == 400 and answer.json() == {"error": "send confirm=yes to erase"}


def test_bad_and_unknown_ids_get_a_message_not_an_error_page(client: TestClient) -> None:
    csrf = log_in(client)
    bad = client.get(PAGE, params={"consent": "<b>order 42</b>"})
    assert bad.status_code == 200 and "is not a consent id" in bad.text and "<b>order" not in bad.text
    unknown = str(uuid.uuid4())
    page = client.get(PAGE, params={"consent": unknown})
    assert page.status_code == 200 and f"Nothing is recorded under {unknown}" in page.text
    assert 'role="alert"' in page.text and "Export</button>" not in page.text
    assert page_json(client, unknown)["lookup"]["found"] is False
    answer = client.post(f"{PAGE}/export", data={"csrf": csrf, "consent": unknown})
    assert answer.status_code == 404 and "Nothing is recorded" in answer.text
    assert client.post(f"{PAGE}/erase", data={"csrf": csrf, "consent": "nope"}).status_code == 400
    assert page_json(client)["requests"] == []


def test_clickhouse_trouble_is_a_503_that_says_so(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: Any) -> bool:
        raise Unavailable("ClickHouse did not answer")

    csrf = log_in(client)
    monkeypatch.setattr(client.app.state.rights, "known", down)  # type: ignore[attr-defined]
    page = client.get(PAGE, params={"consent": str(uuid.uuid4())})
    assert page.status_code == 503 and "Data requests are unavailable right now" in page.text
    assert client.get(f"{PAGE}.json", params={"consent": str(uuid.uuid4())}).status_code == 503
    answer = client.post(f"{PAGE}/erase", data={"csrf": csrf, "consent": str(uuid.uuid4()), "confirm": "yes"})
    assert answer.status_code == 503


def test_viewers_share_links_tokens_and_strangers_are_refused(client: TestClient) -> None:
    consent_id = visitor(client)
    anonymous = client.get(PAGE, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/dashboard/login?next=")
    assert client.get(f"{PAGE}.json").status_code == 401
    assert client.get(f"{PAGE}.json", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403
    csrf = log_in(client, "victor")
    assert client.get("/dashboard/3").status_code == 200
    assert "Data requests" not in client.get("/dashboard/3").text
    assert client.get(PAGE, params={"consent": consent_id}).status_code == 403
    assert client.get(f"{PAGE}.json").status_code == 403
    assert client.get("/dashboard/4/requests").status_code == 403
    form = {"csrf": csrf, "consent": consent_id, "confirm": "yes"}
    assert client.post(f"{PAGE}/erase", data=form).status_code == 403
    assert client.post(f"{PAGE}/export", data=form).status_code == 403
    assert len(stored(client, f"consent_id = '{consent_id}'")) == 2
    _, key = client.app.state.users.create_share(3)  # type: ignore[attr-defined]
    client.cookies.clear()
    assert client.get("/dashboard/shared", params={"key": key}).status_code == 200
    assert client.get(PAGE).status_code == 403
