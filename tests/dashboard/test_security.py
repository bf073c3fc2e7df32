"""Security headers on dashboard responses, checked through a tiny Starlette app."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.dashboard.security import CSP, add_vary, security_headers


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
