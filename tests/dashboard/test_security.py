"""Security headers on dashboard responses (through a tiny Starlette app), and password guessing
against the real login view: slowed down, never a lock-out of the real user elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher
from httpx2 import Response as HttpResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.dashboard.security import CSP, add_vary, security_headers
from gateway.dashboard.throttle import LoginThrottle
from gateway.dashboard.users import UserStore, users_path
from tests.conftest import SettingsFactory
from tests.support.dashboard import PASSWORD, SITES_TOML


async def page(request: Request) -> Response:
    return security_headers(Response("<h1>stats</h1>", media_type="text/html"))


async def shared(request: Request) -> Response:
    return security_headers(Response("shared"), shared=True)


async def negotiated(request: Request) -> Response:
    return security_headers(add_vary(JSONResponse({}), "Accept"))


ROUTES = [Route("/page", page), Route("/shared", shared), Route("/json", negotiated)]
client = TestClient(Starlette(routes=ROUTES))


def test_a_private_page_cannot_be_framed_cached_or_run_injected_code() -> None:
    headers = client.get("/page").headers
    assert headers["content-security-policy"] == CSP
    assert "script-src 'self';" in CSP and "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in headers["permissions-policy"]
    assert headers["cache-control"] == "no-store"
    assert headers["vary"] == "Cookie"


def test_a_share_page_sends_no_referrer() -> None:
    assert client.get("/shared").headers["referrer-policy"] == "no-referrer"


def test_vary_keeps_what_is_there_without_repeating() -> None:
    assert client.get("/json").headers["vary"] == "Accept, Cookie"
    response = add_vary(add_vary(Response(), "accept-encoding"), "Accept-Encoding", "Cookie")
    assert response.headers["vary"] == "accept-encoding, Cookie"


# Guessing passwords over HTTP: the real login view, users file and throttle, without ClickHouse
# (no page past the login is opened). The throttle's clock is pinned: time moves only when a test
# says so, so nothing sleeps and the waits are exact.
NETWORK_A, NETWORK_B = "203.0.113.7", "198.51.100.23"
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def login_app(make_settings: SettingsFactory) -> tuple[Starlette, Clock]:
    settings = make_settings(toml=SITES_TOML)
    application = create_app(settings)
    store = UserStore(users_path(settings), hasher=FAST)
    store.add("admin", PASSWORD, "admin", [])
    application.state.users = store
    clock = Clock()
    application.state.throttle = LoginThrottle(clock=clock)
    return application, clock


def attempt(client: TestClient, password: str, name: str = "admin") -> HttpResponse:
    page = client.get("/dashboard/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return client.post("/dashboard/login", data={"username": name, "password": password, "csrf": csrf},
                       follow_redirects=False)


def test_a_stranger_failing_fifty_times_cannot_lock_the_admin_out_of_another_network(
        login_app: tuple[Starlette, Clock]) -> None:
    application, clock = login_app
    stranger = TestClient(application, base_url="http://127.0.0.1", client=(NETWORK_A, 40000))
    admin = TestClient(application, base_url="http://127.0.0.1", client=(NETWORK_B, 40000))
    waits = []
    for _ in range(50):
        answer = attempt(stranger, "not the password")
        while answer.status_code == 429:  # the stranger waits as told, and tries again
            wait = int(answer.headers["retry-after"])
            waits.append(wait)
            clock.now += wait
            answer = attempt(stranger, "not the password")
        assert answer.status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32] + [60] * (50 - 5 - 6)  # slowed down, never locked for good
    slowed = attempt(stranger, PASSWORD)  # even the right password waits on the stranger's network
    assert slowed.status_code == 429 and slowed.headers["retry-after"] == "60"
    assert "Try again in 1 minute." in slowed.text and "Too many failed attempts" in slowed.text
    # The admin, from a network the stranger never touched: in at once, no waiting.
    assert attempt(admin, PASSWORD).status_code == 303
    metrics = application.state.metrics
    assert metrics.get("dashboard_login", "failed") == 50
    assert metrics.get("dashboard_login", "throttled") == len(waits) + 1


def test_the_login_page_says_how_many_seconds_to_wait(login_app: tuple[Starlette, Clock]) -> None:
    application, clock = login_app
    guesser = TestClient(application, base_url="http://127.0.0.1", client=(NETWORK_A, 40000))
    for _ in range(6):
        attempt(guesser, "not the password")
        clock.now += 1
    answer = attempt(guesser, "not the password")
    assert answer.status_code == 429 and answer.headers["retry-after"] == "1"
    assert "Try again in 1 second." in answer.text


def test_a_head_request_with_the_login_form_only_reads_the_page(login_app: tuple[Starlette, Clock]) -> None:
    """HEAD is GET without a body: it never signs anyone in (found by the fuzz)."""
    application, _ = login_app
    client = TestClient(application, base_url="http://127.0.0.1", client=(NETWORK_A, 40000))
    page = client.get("/dashboard/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = client.request("HEAD", "/dashboard/login", follow_redirects=False,
                            data={"username": "admin", "password": PASSWORD, "csrf": csrf})
    assert answer.status_code == 200
    assert not [h for h in answer.headers.get_list("set-cookie") if h.startswith("cg_session")]
    assert application.state.metrics.get("dashboard_login", "failed") == 0


# Behind a reverse proxy on this host (or a private network) that GATEWAY_TRUSTED_PROXIES leaves out,
# every client is the proxy: a stranger's failures would slow the admin's every attempt.


def login_through(client: TestClient, password: str, forwarded: dict[str, str]) -> HttpResponse:
    """A login whose page was read directly (an SSH tunnel) and whose form is posted with ``forwarded``."""
    page = client.get("/dashboard/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return client.post("/dashboard/login", data={"username": "admin", "password": password, "csrf": csrf},
                       headers=forwarded, follow_redirects=False)


@pytest.mark.parametrize(("peer", "forwarded"), [
    ("127.0.0.1", {"X-Forwarded-For": NETWORK_A}),
    ("::1", {"Forwarded": f"for={NETWORK_A}"}),
    ("172.17.0.1", {"X-Real-IP": NETWORK_A}),  # a proxy in another container
])
def test_logins_through_a_local_proxy_left_out_of_trusted_proxies_are_refused_and_say_what_to_set(
        login_app: tuple[Starlette, Clock], peer: str, forwarded: dict[str, str]) -> None:
    application, _ = login_app
    client = TestClient(application, base_url="http://127.0.0.1", client=(peer, 40000))
    page = client.get("/dashboard/login", headers=forwarded)
    assert page.status_code == 403 and "GATEWAY_TRUSTED_PROXIES" in page.text  # before a password is typed
    for _ in range(30):  # a stranger guessing through the proxy: no password is checked, nobody is slowed
        refused = login_through(client, "not the password", forwarded)
        assert refused.status_code == 403 and "GATEWAY_TRUSTED_PROXIES" in refused.text
    assert login_through(client, PASSWORD, forwarded).status_code == 403  # the right one is refused too
    assert application.state.throttle.sizes() == (0, 0, 0)
    # The admin, on the same host without the proxy (an SSH tunnel), logs in at once.
    assert login_through(client, PASSWORD, {}).status_code == 303
    metrics = application.state.metrics
    assert metrics.get("dashboard_login", "undeclared-proxy") == 31
    assert metrics.get("dashboard_login", "failed") == 0
    # The operator is told: /-/health's details show it, /-/metrics counts it (the page and 31 forms).
    assert application.state.trusted_proxies.misconfigured is True
    assert metrics.get("proxy", "untrusted-forwarded") == 32


def test_a_public_peer_sending_forwarded_for_is_a_client_like_any_other(
        login_app: tuple[Starlette, Clock]) -> None:
    """Clients behind a corporate forward proxy send X-Forwarded-For: no misconfiguration of ours."""
    application, _ = login_app
    client = TestClient(application, base_url="http://127.0.0.1", client=(NETWORK_B, 40000))
    assert login_through(client, "not the password", {"X-Forwarded-For": NETWORK_A}).status_code == 401
    assert login_through(client, PASSWORD, {"X-Forwarded-For": NETWORK_A}).status_code == 303
