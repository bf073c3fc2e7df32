"""Annotations over HTTP: who reads and who writes them, the forms' CSRF token, the answers to bad
input, and where a note shows on the overview (its JSON, the chart's data and table, the list)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.dashboard.users import UserStore
from gateway.storage.clickhouse import Database
from tests.support.dashboard import DAY, NOW, PASSWORD, RANGE, TOKEN_1, TOKEN_2

JSON = {"Accept": "application/json"}





def csrf_of(client: TestClient, path: str = "/dashboard/login") -> str:
    return client.get(path).text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def log_in(client: TestClient, name: str = "anna") -> str:
    """Log ``name`` in; the CSRF token of this browser."""
    csrf = csrf_of(client)
    answer = client.post("/dashboard/login", data={"username": name, "password": PASSWORD, "csrf": csrf},
                         follow_redirects=False)
    assert answer.status_code == 303
    return csrf_of(client, f"/dashboard/1?{RANGE}" if name == "anna" else "/dashboard/2")  # a new one


def add(client: TestClient, csrf: str, note: str = "Spring newsletter sent", site: int = 1,
        date: str = str(DAY), **extra: str) -> Any:
    return client.post(f"/dashboard/{site}/annotations", data={"csrf": csrf, "date": date, "note": note,
                                                              **extra}, follow_redirects=False)


def add_json(client: TestClient, csrf: str, note: str = "Spring newsletter sent", site: int = 1) -> Any:
    answer = client.post(f"/dashboard/{site}/annotations", headers=JSON,
                         data={"csrf": csrf, "date": str(DAY), "note": note})
    assert answer.status_code == 201, answer.text
    return answer.json()["annotation"]


def test_a_form_adds_a_note_that_the_overview_shows(app: TestClient) -> None:
    csrf = log_in(app)
    back = f"/dashboard/1?{RANGE}"
    answer = add(app, csrf, next=back)
    assert answer.status_code == 303 and answer.headers["location"] == back + "#annotations"
    data = app.get(f"/dashboard/1.json?{RANGE}").json()
    [note] = data["annotations"]
    assert (note["date"], note["note"], note["author"]) == (str(DAY), "Spring newsletter sent", "anna")
    assert note["created"] == NOW.isoformat(timespec="seconds")
    page = app.get(back).text
    chart = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page,
                                 re.S).group(1))  # type: ignore[union-attr]
    assert chart["annotations"] == [{"index": 0, "id": note["id"], "date": str(DAY),
                                     "note": "Spring newsletter sent"}]  # one day: on its first hour
    assert re.search(r"<td>Spring newsletter sent</td></tr>", page)  # the chart's data table
    assert f'id="note-{note["id"]}"' in page and "(anna)" in page
    assert f'action="/dashboard/1/annotations/{note["id"]}/delete"' in page
    # Another range does not list it.
    before = DAY - dt.timedelta(days=40)
    elsewhere = app.get(f"/dashboard/1.json?period=custom&from={before}&to={before}").json()
    assert elsewhere["annotations"] == []


def test_a_form_without_its_csrf_token_changes_nothing(app: TestClient) -> None:
    csrf = log_in(app)
    assert add(app, "forged").status_code == 403
    assert app.post("/dashboard/1/annotations", data={"date": str(DAY), "note": "x"}).status_code == 403
    note = add_json(app, csrf)
    assert app.post(f"/dashboard/1/annotations/{note['id']}/delete", data={"csrf": ""}).status_code == 403
    assert app.post(f"/dashboard/1/annotations/{note['id']}", data={"csrf": "forged", "date": str(DAY),
                                                                     "note": "changed"}).status_code == 403
    assert [n["note"] for n in app.get("/dashboard/1/annotations.json").json()["annotations"]] == [
        "Spring newsletter sent"]


def test_users_write_share_links_and_tokens_only_read(app: TestClient, store: UserStore) -> None:
    assert add(app, csrf_of(app)).status_code == 401  # nobody logged in
    assert app.get("/dashboard/1/annotations.json").status_code == 401
    csrf = log_in(app)
    note = add_json(app, csrf)
    token = {"Authorization": f"Bearer {TOKEN_1}"}
    [read] = app.get("/dashboard/1/annotations.json", headers=token).json()["annotations"]
    assert read == {key: value for key, value in note.items() if key != "author"}  # no user name
    [overview] = app.get(f"/dashboard/1.json?{RANGE}", headers=token).json()["annotations"]
    assert overview == read
    assert app.get("/dashboard/1/annotations.json", headers={"Authorization": f"Bearer {TOKEN_2}"}
                   ).status_code == 403
    refused = app.post("/dashboard/1/annotations", data={"csrf": csrf, "date": str(DAY), "note": "by token"},
                       headers={**token, **JSON})
    assert refused.status_code == 403 and "share link or a site token" in refused.json()["error"]
    app.post("/dashboard/logout", data={"csrf": csrf})
    # A share link's reader sees the notes on the page, with no form to change them.
    _, key = store.create_share(1, "agency")
    app.cookies.clear()
    assert app.get(f"/dashboard/shared?key={key}", follow_redirects=False).status_code == 303
    page = app.get(f"/dashboard/1?{RANGE}").text
    assert "Spring newsletter sent" in page and 'action="/dashboard/1/annotations"' not in page
    assert "(anna)" not in page and "anna" not in page.split('id="annotations"', 1)[1]
    [shared] = app.get("/dashboard/1/annotations.json").json()["annotations"]
    assert shared == read
    assert app.get(f"/dashboard/1.json?{RANGE}").json()["annotations"] == [read]
    csrf = csrf_of(app)  # a valid token of this browser: the page has no form for it
    assert add(app, csrf).status_code == 403
    assert app.post(f"/dashboard/1/annotations/{note['id']}/delete", data={"csrf": csrf}).status_code == 403
    # A viewer writes on the sites they see, and only there.
    app.cookies.clear()
    csrf = log_in(app, "victor")
    assert add(app, csrf, site=1).status_code == 403
    assert add(app, csrf, site=2).status_code == 303
    assert [n["author"] for n in app.get("/dashboard/2/annotations.json").json()["annotations"]] == ["victor"]


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"note": ""}, 400, "note: write a few words"),
    ({"note": "x" * 201}, 400, "note: at most 200 characters"),
    ({"date": "21/11/2026"}, 400, "date: not a date"),
    ({"date": ""}, 400, "date: not a date"),
    ({"date": "1999-12-31"}, 400, "date: must be from"),
])
def test_bad_input_is_a_400_naming_the_field(app: TestClient, fields: dict[str, str], status: int,
                                             message: str) -> None:
    csrf = log_in(app)
    form = {"csrf": csrf, "date": str(DAY), "note": "fine", **fields}
    answer = app.post("/dashboard/1/annotations", data=form, headers=JSON)
    assert (answer.status_code, answer.json()["error"][:len(message)]) == (status, message)
    page = app.post("/dashboard/1/annotations", data=form)
    assert page.status_code == status and message in page.text
    note = add_json(app, csrf)
    edited = app.post(f"/dashboard/1/annotations/{note['id']}", data=form, headers=JSON)
    assert edited.status_code == status
    assert app.get("/dashboard/1/annotations.json").json()["annotations"] == [note]


def test_an_unknown_or_another_sites_note_is_a_404(app: TestClient) -> None:
    csrf = log_in(app)
    theirs = add_json(app, csrf, site=2)
    for target in ("0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "not-an-id", theirs["id"]):
        edit = app.post(f"/dashboard/1/annotations/{target}", data={"csrf": csrf, "date": str(DAY),
                                                                     "note": "mine now"}, headers=JSON)
        assert edit.status_code == 404 and "no such annotation" in edit.json()["error"]
        assert app.post(f"/dashboard/1/annotations/{target}/delete", data={"csrf": csrf}).status_code == 404
    assert app.get("/dashboard/2/annotations.json").json()["annotations"] == [theirs]


def test_json_clients_edit_and_delete_and_list_a_range(app: TestClient) -> None:
    csrf = log_in(app)
    note = add_json(app, csrf)
    moved = DAY - dt.timedelta(days=40)  # a day of its own, a while before the seeded one
    edited = app.post(f"/dashboard/1/annotations/{note['id']}", headers=JSON,
                      data={"csrf": csrf, "date": str(moved), "note": "  Moved\nto that day "})
    assert edited.status_code == 200
    assert edited.json()["annotation"] == {**note, "date": str(moved), "note": "Moved to that day"}
    start, end = moved - dt.timedelta(days=14), moved + dt.timedelta(days=16)
    listed = app.get(f"/dashboard/1/annotations.json?period=custom&from={start}&to={end}").json()
    assert listed["range"] == {"start": str(start), "end": str(end)}
    assert [n["note"] for n in listed["annotations"]] == ["Moved to that day"]
    assert app.get(f"/dashboard/1/annotations.json?{RANGE}").json()["annotations"] == []
    assert app.get("/dashboard/1/annotations.json?period=someday").status_code == 400
    deleted = app.post(f"/dashboard/1/annotations/{note['id']}/delete", data={"csrf": csrf}, headers=JSON)
    assert deleted.json() == {"deleted": note["id"]}
    assert app.get("/dashboard/1/annotations.json").json()["annotations"] == []


def test_a_form_returns_only_to_this_sites_pages(app: TestClient) -> None:
    csrf = log_in(app)
    for sent, back in (("https://evil.example/", "/dashboard/1#annotations"),
                       ("//evil.example", "/dashboard/1#annotations"),
                       ("/dashboard/2?period=7d", "/dashboard/1#annotations"),
                       ("/dashboard/1?period=7d", "/dashboard/1?period=7d#annotations")):
        assert add(app, csrf, next=sent).headers["location"] == back
    html = app.get(f"/dashboard/1/annotations?{RANGE}", follow_redirects=False)
    assert (html.status_code, html.headers["location"]) == (303, f"/dashboard/1?{RANGE}#annotations")


def test_only_its_author_or_an_admin_changes_a_note(app: TestClient, store: UserStore) -> None:
    """As in Matomo: another viewer of the site reads a note but may not put words under its author's
    name, nor delete it; the page offers them no form to try."""
    store.add("wendy", PASSWORD, "viewer", [2])
    annas = add_json(app, log_in(app), site=2, note="Launch")
    app.cookies.clear()
    csrf = log_in(app, "victor")
    victors = add_json(app, csrf, site=2, note="Banner test")
    edit = {"date": str(DAY), "note": "anna broke it"}
    for path, form in ((f"/dashboard/2/annotations/{annas['id']}", edit),
                       (f"/dashboard/2/annotations/{annas['id']}/delete", {})):
        refused = app.post(path, data={"csrf": csrf, **form}, headers=JSON)
        assert refused.status_code == 403 and "author or an admin" in refused.json()["error"]
        assert app.post(path, data={"csrf": csrf, **form}).status_code == 403  # the form too
    page = app.get(f"/dashboard/2?{RANGE}").text
    assert f'action="/dashboard/2/annotations/{annas["id"]}"' not in page
    assert f'action="/dashboard/2/annotations/{annas["id"]}/delete"' not in page
    assert f'action="/dashboard/2/annotations/{victors["id"]}/delete"' in page  # their own
    assert app.post(f"/dashboard/2/annotations/{victors['id']}", headers=JSON,
                    data={"csrf": csrf, "date": str(DAY), "note": "Banner test B"}).status_code == 200
    app.cookies.clear()
    csrf = log_in(app, "wendy")
    assert app.post(f"/dashboard/2/annotations/{victors['id']}/delete",
                    data={"csrf": csrf}).status_code == 403
    assert {(n["note"], n["author"]) for n in app.get("/dashboard/2/annotations.json").json()["annotations"]
            } == {("Launch", "anna"), ("Banner test B", "victor")}
    app.cookies.clear()
    csrf = log_in(app)  # an admin changes anyone's
    page = app.get(f"/dashboard/2?{RANGE}").text
    assert f'action="/dashboard/2/annotations/{victors["id"]}/delete"' in page
    assert app.post(f"/dashboard/2/annotations/{victors['id']}/delete", data={"csrf": csrf},
                    headers=JSON).status_code == 200
    assert [n["note"] for n in app.get("/dashboard/2/annotations.json").json()["annotations"]] == ["Launch"]


def test_the_overview_shows_without_its_notes_when_they_cannot_be_read(
        app: TestClient, db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """The notes are not the figures: with their table gone (a failed migration, a renamed table) the
    overview still answers, says the notes are unavailable, and logs that once, not per page."""
    csrf = log_in(app)
    add_json(app, csrf)
    db.command("RENAME TABLE annotations TO annotations_gone")
    try:
        caplog.set_level(logging.WARNING)
        data = app.get(f"/dashboard/1.json?{RANGE}")
        assert data.status_code == 200 and data.json()["annotations"] is None
        assert data.json()["figures"]["visits"]["value"] == 3
        page = app.get(f"/dashboard/1?{RANGE}")
        assert page.status_code == 200 and "Annotations are unavailable right now" in page.text
        assert 'id="chart-data"' in page.text
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [(r.levelno, r.exc_info) for r in warnings] == [(logging.WARNING, None)]
    finally:
        db.command("RENAME TABLE annotations_gone TO annotations")
    assert [n["note"] for n in app.get(f"/dashboard/1.json?{RANGE}").json()["annotations"]] == [
        "Spring newsletter sent"]
