"""The tracking hits' short way in: the same answers as before, counted rather than logged when 2xx.

Everything the endpoint does is tested through the app in test_endpoint.py, which now goes the short
way for GET and POST; here: what the short way changes (the access log, the counters), what it leaves
to Starlette (preflights, HEAD, other methods, the ``/js`` redirect) and the exact answers.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from gateway.ingest.fastpath import ANSWERS_METRIC, route_path
from gateway.ingest.transport import GIF
from tests.ingest.conftest import ORIGIN
from tests.ingest.test_endpoint import consent, counter, hit, rows


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "gateway.access"]


def test_hits_answered_2xx_are_counted_and_the_rest_logged(client: TestClient,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    consent(client)
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        assert client.get("/matomo.php?" + urlencode(hit())).status_code == 200
        assert client.post("/matomo.php?" + urlencode(hit(send_image=0, pv_id="b2C3d4"))).status_code == 204
        assert client.get("/matomo.php?" + urlencode(hit(idsite=99))).status_code == 400
    lines = access_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("GET /matomo.php 400 ")
    assert [counter(client, ANSWERS_METRIC, status) for status in ("200", "204", "400")] == [1, 1, 1]
    assert len(rows(client)) == 2


def test_what_the_short_way_does_not_take_goes_through_starlette(client: TestClient,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        preflight = client.options("/matomo.php?idsite=3", headers={"Origin": ORIGIN,
                                                                    "Access-Control-Request-Method": "POST"})
        put = client.put("/matomo.php")
        head = client.head("/piwik.php")
        slash = client.get("/js", follow_redirects=False)
    assert preflight.status_code == 204 and "POST" in preflight.headers["access-control-allow-methods"]
    assert put.status_code == 405 and "POST" in put.headers["allow"]
    assert head.status_code == 200
    assert slash.status_code in (307, 308) and slash.headers["location"].endswith("/js/")
    assert counter(client, ANSWERS_METRIC, "204") == 0  # none of them went the short way
    logged = access_lines(caplog)
    assert [line.split()[:3] for line in logged] == [["OPTIONS", "/matomo.php", "204"],
                                                     ["PUT", "/matomo.php", "405"],
                                                     ["HEAD", "/piwik.php", "200"],
                                                     ["GET", "-unmatched-", "307"]]


def test_the_answers_carry_exactly_their_headers(client: TestClient) -> None:
    consent(client)
    beacon = client.post("/t?" + urlencode(hit(send_image=0)), headers={"Origin": ORIGIN})
    assert beacon.status_code == 204 and beacon.content == b""
    assert dict(beacon.headers) == {"vary": "Origin, Cookie", "access-control-allow-origin": ORIGIN,
                                    "access-control-allow-credentials": "true", "cache-control": "no-store"}
    image = client.get("/piwik.php?" + urlencode(hit(pv_id="c3D4e5")), headers={"Origin": "https://evil.test"})
    assert image.content == GIF
    assert dict(image.headers) == {"vary": "Origin, Cookie", "cache-control": "no-store",
                                   "content-length": str(len(GIF)), "content-type": "image/gif"}


def test_a_crash_in_the_endpoint_is_a_logged_500(client: TestClient, caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    consent(client)
    app: Any = client.app

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.state.pipeline, "process", broken)
    with caplog.at_level(logging.INFO, logger="gateway.access"), pytest.raises(RuntimeError):
        client.get("/matomo.php?" + urlencode(hit()))
    assert access_lines(caplog)[0].startswith("GET /matomo.php 500 ")
    assert counter(client, ANSWERS_METRIC, "500") == 1


@pytest.mark.parametrize(("path", "root", "expected"), [
    ("/matomo.php", "", "/matomo.php"),
    ("/stats/matomo.php", "/stats", "/matomo.php"),
    ("/matomo.php", "/stats", "/matomo.php"),  # a server that passes the path without its mount point
])
def test_the_path_is_matched_as_the_router_matches_it(path: str, root: str, expected: str) -> None:
    assert route_path({"path": path, "root_path": root}) == expected
