"""ClickHouse down: every endpoint that needs it answers 503 with Retry-After, never a 500; the rest serve.

One gateway on the ClickHouse stand-in (tests/support/clickhouse_standin.py): a visitor grants
consent and an admin logs in while it runs, then the stand-in is killed and every route is asked.
Each route of the app is classified below, as needing ClickHouse or not, so a new route must be
added here (``test_every_route_is_classified``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.settings import load_settings
from gateway.consent import api as consent_api
from gateway.consent.cookie import cookie_name
from gateway.monitoring.counters import Metrics
from gateway.storage.clickhouse import ClickHouseError, Database
from gateway.web.unavailable import outage, refused_code
from tests.rights.conftest import CHROME, ORIGIN, SITES, TOKEN
from tests.support.clickhouse_standin import StandIn
from tests.support.dashboard import PASSWORD

AUTH = {"Authorization": f"Bearer {TOKEN}"}
HIT = "idsite=3&rec=1&url=https%3A%2F%2Fshop.example.com%2Fparts&action_name=Parts"
ID = "{id}"  # replaced by the visitor's consent id
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}


@dataclass(frozen=True, slots=True)
class Outage:
    client: TestClient
    consent_id: str
    csrf: str

    def ask(self, method: str, path: str, **options: Any) -> Any:
        if options.pop("no_cookies", False):
            saved = list(self.client.cookies.jar)
            self.client.cookies.clear()
            try:
                return self.ask(method, path, **options)
            finally:
                self.client.cookies.clear()
                for cookie in saved:
                    self.client.cookies.jar.set_cookie(cookie)
        if "data" in options:
            options["data"] = {k: v.replace(ID, self.consent_id) for k, v in options["data"].items()} | {
                "csrf": self.csrf}
        return self.client.request(method, path.replace(ID, self.consent_id), follow_redirects=False,
                                   **options)


@pytest.fixture(scope="module")
def down(tmp_path_factory: pytest.TempPathFactory, city_db: Path) -> Iterator[Outage]:
    """A gateway whose ClickHouse answered at start, then went away."""
    folder = tmp_path_factory.mktemp("unavailable")
    (folder / "gateway.toml").write_text(SITES, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        # A grant waits this long for the log before its 503; a refusal before its "logged": false.
        patch.setattr(consent_api, "DURABLE_TIMEOUT", 0.3)
        standin = StandIn(folder / "clickhouse")
        try:
            settings = load_settings({
                "GATEWAY_DATA_DIR": str(folder / "data"), "GATEWAY_CONFIG": str(folder / "gateway.toml"),
                "GATEWAY_CLICKHOUSE_URL": f"http://default:@{standin.host}:{standin.port}/outage",
                "GATEWAY_GEOIP_CITY_DB": str(city_db), "GATEWAY_SECRET_KEYS": "k" * 40,
                "GATEWAY_WRITER_FLUSH_INTERVAL": "0.05"})
            app = create_app(settings)
            app.state.users.add("anna", PASSWORD, "admin", [])
            with TestClient(app, base_url="https://stats.example.com",
                            headers={"User-Agent": CHROME}) as client:
                granted = client.post("/consent?site=3", headers={"Origin": ORIGIN},
                                      json={"categories": ["analytics"], "policy_version": "1"})
                assert granted.status_code == 200, granted.text
                form = client.get("/dashboard/login").text
                csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                logged_in = client.post("/dashboard/login", follow_redirects=False,
                                        data={"username": "anna", "password": PASSWORD, "csrf": csrf})
                assert logged_in.status_code == 303
                page = client.get("/dashboard/3/requests").text  # the session's form token
                csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                standin.kill()
                yield Outage(client, granted.json()["consent_id"], csrf)
                standin.restart()  # back, so that the shutdown drains rather than waits out its retries
        finally:
            standin.stop()


NOTE = "6f1c2d3e-4b5a-4978-8a9b-0c1d2e3f4a5b"  # an annotation id (a UUID); none exists
# (method, path, options, "json" or "html"): each needs ClickHouse, so each answers 503.
NEEDS_CLICKHOUSE: list[tuple[str, str, dict[str, Any], str]] = [
    ("GET", "/dashboard/3", {}, "html"),
    ("GET", "/dashboard/3.json", {}, "json"),
    ("GET", "/dashboard/3.json", {"headers": AUTH, "no_cookies": True}, "json"),
    ("GET", "/dashboard/3", {"headers": {"Accept": "application/json"}}, "json"),
    ("HEAD", "/dashboard/3", {}, "head"),
    ("GET", "/dashboard/3/reports/pages", {}, "html"),
    ("GET", "/dashboard/3/reports/pages?fragment=card", {}, "html"),
    ("GET", "/dashboard/3/reports/countries.json", {}, "json"),
    ("GET", "/dashboard/3/reports/pages.csv", {}, "json"),
    ("GET", "/dashboard/3/realtime", {}, "html"),
    ("GET", "/dashboard/3/realtime.json", {}, "json"),
    ("GET", "/dashboard/3/consent", {}, "html"),
    ("GET", "/dashboard/3/consent.json", {}, "json"),
    ("GET", "/dashboard/3/visits", {}, "html"),
    ("GET", "/dashboard/3/visits.json", {}, "json"),
    ("GET", "/dashboard/3/annotations.json", {}, "json"),
    ("POST", "/dashboard/3/annotations", {"data": {"date": "2026-12-01", "note": "Launch"}}, "html"),
    ("POST", f"/dashboard/3/annotations/{NOTE}", {"data": {"date": "2026-12-01", "note": "Launch"}}, "html"),
    ("POST", f"/dashboard/3/annotations/{NOTE}/delete", {"data": {}}, "html"),
    ("GET", "/dashboard/3/requests", {}, "html"),
    ("GET", "/dashboard/3/requests.json", {}, "json"),
    ("GET", f"/dashboard/3/requests?consent={ID}", {}, "html"),
    ("GET", f"/dashboard/3/requests.json?consent={ID}", {}, "json"),
    ("POST", "/dashboard/3/requests/export", {"data": {"consent": ID}}, "html"),
    ("POST", "/dashboard/3/requests/erase", {"data": {"consent": ID}}, "html"),
    ("POST", "/dashboard/3/requests/erase", {"data": {"consent": ID, "confirm": "yes"}}, "html"),
    ("GET", "/consent/data?site=3", {}, "json"),
    ("DELETE", "/consent/data?site=3", {"headers": {"Origin": ORIGIN}}, "json"),
    ("GET", f"/api/consents/{ID}", {"headers": AUTH}, "json"),
    ("GET", f"/api/consents/{ID}/data", {"headers": AUTH}, "json"),
    ("DELETE", f"/api/consents/{ID}/data", {"headers": AUTH}, "json"),
    ("GET", "/api/user-data?site=3&uid=u-1", {"headers": AUTH}, "json"),
    ("DELETE", "/api/user-data?site=3&uid=u-1", {"headers": AUTH}, "json"),
    ("POST", "/consent?site=3", {"json": {"categories": ["analytics"], "policy_version": "1"},
                                 "headers": {"Origin": ORIGIN}}, "json"),
]

# (method, path, options): served without ClickHouse (2xx or 3xx; a 4xx where the input asks for it).
SERVED: list[tuple[str, str, dict[str, Any]]] = [
    *((method, f"{path}?{HIT}", {"headers": {"Origin": ORIGIN}}) for path in
      ("/matomo.php", "/piwik.php", "/js/", "/js/index.php", "/t") for method in ("GET", "POST", "OPTIONS")),
    ("GET", "/consent?site=3", {}),  # the cookie's decision
    ("HEAD", "/consent?site=3", {}),
    ("GET", "/consent?site=3", {"headers": {"Sec-GPC": "1"}, "no_cookies": True}),  # a refusal, unlogged
    ("DELETE", "/consent?site=3", {"headers": {"Origin": ORIGIN}, "no_cookies": True}),
    ("OPTIONS", "/consent?site=3", {"headers": PREFLIGHT}),
    ("OPTIONS", "/consent/data?site=3", {"headers": PREFLIGHT}),
    ("GET", "/privacy?site=3", {}),
    ("GET", "/privacy?site=3&format=json", {}),
    ("OPTIONS", "/privacy?site=3", {"headers": PREFLIGHT}),
    ("GET", "/t.js", {}),
    ("GET", "/banner.js", {}),
    ("GET", "/demo/", {}),
    ("GET", "/demo/index.html", {}),
    ("GET", "/-/version", {}),
    ("GET", "/-/live", {}),  # 200: a ClickHouse outage must not restart every instance
    ("GET", "/-/metrics", {}),
    ("GET", "/dashboard", {}),
    ("GET", "/dashboard/", {}),
    ("GET", "/dashboard.json", {}),
    ("GET", "/dashboard/login", {}),
    ("POST", "/dashboard/login", {"data": {"username": "anna", "password": "wrong"}, "no_cookies": True}),
    ("POST", "/dashboard/logout", {"data": {}, "no_cookies": True}),
    ("GET", "/dashboard/shared?key=not-a-key", {}),
    ("GET", "/dashboard/3/annotations", {}),  # a redirect to the overview's list
    ("GET", "/dashboard/static/dashboard.0123456789ab.css", {}),
]
REPORTS_OUTAGE = {"/-/health", "/-/ready"}  # say "degraded" / "not-ready" with 503: that is their job


@pytest.mark.parametrize(("method", "path", "options", "kind"), NEEDS_CLICKHOUSE)
def test_what_needs_clickhouse_answers_503_with_retry_after(
        down: Outage, caplog: pytest.LogCaptureFixture, method: str, path: str, options: dict[str, Any],
        kind: str) -> None:
    app: Any = down.client.app
    before = app.state.metrics.get("clickhouse", "unavailable")
    answer = down.ask(method, path, **options)
    assert answer.status_code == 503, answer.text[:300]
    assert answer.headers["retry-after"] == "5"
    assert answer.headers["cache-control"] == "no-store"
    if kind == "json":
        assert answer.headers["content-type"].startswith("application/json")
        assert "try again" in answer.json()["error"]
    elif kind == "html":
        assert answer.headers["content-type"].startswith("text/html")
        assert "unavailable right now" in answer.text
    if path.startswith("/dashboard/") or "/data" in path or "user-data" in path:  # the proof counts its own
        assert app.state.metrics.get("clickhouse", "unavailable") > before
    assert "Traceback" not in caplog.text and all(record.exc_info is None for record in caplog.records)
    # The gateway's own lines name no identifier (urllib3's retry warnings are issue 16's item 9).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("gateway"))
    assert "ClickHouse is unavailable" in ours or path == f"/api/consents/{ID}"
    assert down.consent_id not in ours and "u-1" not in ours


@pytest.mark.parametrize(("method", "path", "options"), SERVED)
def test_what_does_not_need_clickhouse_keeps_serving(
        down: Outage, caplog: pytest.LogCaptureFixture, method: str, path: str,
        options: dict[str, Any]) -> None:
    answer = down.ask(method, path, **options)
    assert answer.status_code < 500, answer.text[:300]
    assert "Traceback" not in caplog.text and all(record.exc_info is None for record in caplog.records)


def test_a_gpc_refusal_during_the_outage_still_takes_effect(down: Outage) -> None:
    answer = down.ask("GET", "/consent?site=3", headers={"Sec-GPC": "1"}, no_cookies=True)
    assert answer.status_code == 200 and answer.json()["decided"]
    assert cookie_name(3) in answer.cookies


def test_every_route_is_classified(down: Outage) -> None:
    def route_of(path: str) -> str:
        bare = path.split("?", 1)[0].replace(ID, str(uuid.uuid4()))
        app: Any = down.client.app
        for route in app.routes:
            if isinstance(route, Route) and route.path_regex.fullmatch(bare):
                return route.path
        raise AssertionError(f"{path} matches no route")

    def method_of(method: str) -> str:
        return "GET" if method == "HEAD" else method

    asked = {(method_of(m), route_of(path)) for m, path, _, _ in NEEDS_CLICKHOUSE}
    asked |= {(method_of(m), route_of(path)) for m, path, _ in SERVED}
    asked |= {("GET", path) for path in REPORTS_OUTAGE}
    app: Any = down.client.app
    routes = {(method, route.path) for route in app.routes if isinstance(route, Route)
              for method in (route.methods or ()) if method != "HEAD"}
    # Scripts have a stable and a versioned URL each; the stable ones stand for both.
    routes = {(m, p) for m, p in routes if "{digest}" not in p}
    assert routes - asked == set(), "classify these routes in NEEDS_CLICKHOUSE or SERVED"


def test_a_query_clickhouse_refuses_is_an_error_with_its_code_not_an_outage(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    # What the fuzz test found in a report's SQL: answered 503 all the same, but logged as the bug it is.
    with pytest.raises(ClickHouseError) as refused:
        db.query("SELECT count() AS n FROM numbers(3) WHERE n > 0 AND {v:String} != ''", {"v": "secret-1"})
    assert refused_code(refused.value) == "184 ILLEGAL_AGGREGATION"

    def failing(request: Request) -> Response:
        return outage(request, "a report", JSONResponse({"error": "unavailable"}), refused.value)

    app = Starlette(routes=[Route("/", failing)])
    app.state.metrics = Metrics()
    with TestClient(app) as client:
        answer = client.get("/")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert app.state.metrics.get("clickhouse", "query-failed") == 1
    assert app.state.metrics.get("clickhouse", "unavailable") == 0
    assert "a report answered 503: ClickHouse refused the query (code 184 ILLEGAL_AGGREGATION)" in caplog.text
    assert "secret-1" not in caplog.text
