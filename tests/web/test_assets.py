"""Serving the built scripts (stable and versioned URLs, caching, gzip) and the demo page."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.web.assets import DEMO_CSP, load_scripts
from tests.conftest import SettingsFactory

SCRIPT = b"(()=>{console.log('banner')})();\n" * 40
TRACKER = b"(()=>{console.log('tracker')})();\n" * 40
BODIES = {"banner": SCRIPT, "t": TRACKER}
STEMS = pytest.mark.parametrize("stem", BODIES)


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    (tmp_path / "banner.js").write_bytes(SCRIPT)
    (tmp_path / "t.js").write_bytes(TRACKER)
    return tmp_path


@pytest.fixture
def served(app_settings: Settings, scripts: Path) -> Iterator[TestClient]:
    app = create_app(app_settings)
    app.state.scripts = load_scripts(scripts)
    with TestClient(app) as client:
        yield client


@STEMS
def test_the_stable_url_is_cached_briefly_and_revalidated(served: TestClient, stem: str) -> None:
    response = served.get(f"/{stem}.js", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == BODIES[stem]
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300, must-revalidate"
    assert (
        response.headers["x-content-type-options"],
        response.headers["access-control-allow-origin"],
    ) == ("nosniff", "*")
    again = served.get(
        f"/{stem}.js", headers={"If-None-Match": response.headers["etag"], "Accept-Encoding": "identity"}
    )
    assert (again.status_code, again.content) == (304, b"")
    assert served.get(f"/{stem}.js", headers={"If-None-Match": "*"}).status_code == 304
    zipped = served.get(f"/{stem}.js", headers={"Accept-Encoding": "gzip"}).headers["etag"]
    assert zipped != response.headers["etag"]  # each representation has its own validator


@STEMS
def test_the_versioned_url_is_immutable_and_an_old_one_redirects(served: TestClient, stem: str) -> None:
    versioned = served.get("/-/version").json()["scripts"][f"{stem}.js"]
    assert versioned.startswith(f"/{stem}.") and len(versioned) == len(f"/{stem}.") + 12 + 3
    response = served.get(versioned)
    assert (response.status_code, response.content) == (200, BODIES[stem])
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    old = served.get(f"/{stem}.0123456789ab.js", follow_redirects=False)
    assert (old.status_code, old.headers["location"]) == (302, f"{stem}.js")  # relative: for any prefix
    assert old.headers["access-control-allow-origin"] == "*"  # a crossorigin <script> may follow it
    assert served.get(f"/{stem}.nothex.js").status_code == 404


def test_the_tracker_script_and_the_tracking_endpoint_keep_their_own_paths(served: TestClient) -> None:
    assert served.get("/t.js").content == TRACKER
    about = served.get("/t")  # no parameters: the endpoint says what it is
    assert (about.status_code, about.headers["content-type"]) == (200, "text/plain; charset=utf-8")
    assert "tracking endpoint" in about.text
    hit = served.get("/t?idsite=1&rec=1&send_image=0")  # no consent: answered alike, not stored
    assert (hit.status_code, hit.content) == (204, b"")
    assert served.get("/t.js?idsite=1&rec=1").content == TRACKER  # a query never makes it a hit
    assert served.post("/t.js").status_code == 405
    assert served.get("/t.0123456789ab.js", follow_redirects=False).headers["location"] == "t.js"


def test_scripts_travel_gzipped_when_the_browser_accepts_it(served: TestClient) -> None:
    response = served.get("/banner.js", headers={"Accept-Encoding": "gzip, br"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) < len(SCRIPT) / 4
    assert response.content == SCRIPT  # decoded by the client
    refused = served.get("/banner.js", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers
    raw = served.get("/banner.js", headers={"Accept-Encoding": "gzip"}).headers["content-length"]
    assert len(gzip.compress(SCRIPT, 9, mtime=0)) == int(raw)


def test_the_demo_page_runs_under_a_strict_policy_for_the_demo_site_only(
    served: TestClient, make_settings: SettingsFactory, clickhouse_url: str
) -> None:
    page = served.get("/demo/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == DEMO_CSP
    assert "'unsafe-inline'" not in DEMO_CSP
    assert '<script src="/banner.js" data-site="1"' in page.text
    assert '<script src="/t.js" data-site="1" async></script>' in page.text  # the tracker, next to it
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline
    assert served.get("/demo/gated.js").headers["content-type"] == "text/javascript; charset=utf-8"
    assert served.get("/demo/../app.py").status_code == 404
    toml = '[[sites]]\nid = 7\nname = "Shop"\norigins = ["https://shop.example.com"]\n'
    with TestClient(
        create_app(make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url}, toml=toml))
    ) as own:
        assert own.get("/demo/").status_code == 404


def test_the_committed_scripts_are_served() -> None:
    assert set(load_scripts()) == {"banner.js", "t.js"}
