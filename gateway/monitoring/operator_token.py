"""Who sees the operator's view of ``/-/``: the bearer of ``GATEWAY_METRICS_TOKEN``.

Health and version have a public answer (the status, the name and version) for load balancers and
anyone else; their details, and ``/-/metrics`` as a whole, need the token as
``Authorization: Bearer TOKEN``. Without a configured token there is no operator view at all: the
answer says which setting to set, rather than falling back to trusting, say, loopback clients
(behind a reverse proxy on the same host every client is loopback).
"""

from __future__ import annotations

import hmac
from enum import Enum

from starlette.requests import Request
from starlette.responses import JSONResponse

TOKEN_SETTING = "GATEWAY_METRICS_TOKEN"  # noqa: S105 (the setting's name, not a token)
NO_STORE = {"Cache-Control": "no-store"}


class Viewer(Enum):
    PUBLIC = "public"  # sent no credentials
    OPERATOR = "operator"  # sent the configured token


def viewer(request: Request) -> Viewer | JSONResponse:
    """The viewer, or the refusal to answer: a wrong token (401), credentials while no token is
    configured (403). A request without credentials is PUBLIC; each endpoint decides what that gets."""
    header = request.headers.get("authorization")
    if header is None:
        return Viewer.PUBLIC
    configured: str = request.app.state.settings.metrics_token
    if not configured:
        return not_configured()
    scheme, _, presented = header.partition(" ")
    # Bytes on both sides: compare_digest refuses non-ASCII str, and a header is latin-1 on the wire.
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode("latin-1"),
                                                             configured.encode()):
        return unauthorized("the operator token is wrong")
    return Viewer.OPERATOR


def require_operator(request: Request) -> JSONResponse | None:
    """None for the operator; otherwise the refusal (an endpoint with no public answer)."""
    seen = viewer(request)
    if seen is Viewer.OPERATOR:
        return None
    if isinstance(seen, JSONResponse):
        return seen
    if not request.app.state.settings.metrics_token:
        return not_configured()
    return unauthorized(f"send the operator token ({TOKEN_SETTING}) as Authorization: Bearer TOKEN")


def unauthorized(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=401,
                        headers={**NO_STORE, "WWW-Authenticate": 'Bearer realm="consent-gateway operator"'})


def not_configured() -> JSONResponse:
    return JSONResponse({"error": f"operator answers are off: set {TOKEN_SETTING} (16+ characters) on the "
                         "gateway and send it as Authorization: Bearer TOKEN"}, status_code=403,
                        headers=NO_STORE)
