"""CORS for the browser-facing APIs: only a site's configured origins, always with credentials.

An allowed Origin is echoed with ``Access-Control-Allow-Credentials: true`` (the consent cookie
must travel); any other origin gets no CORS headers at all, so the browser refuses it. Unlike
Matomo, we never echo an arbitrary origin.

``cross_site`` reads what the browser says of a request (``Sec-Fetch-Site``): whether it will keep a
SameSite=Lax cookie that the answer sets.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.config.sites import Site

ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
PREFLIGHT_MAX_AGE = "600"


def origin_allowed(request: Request, site: Site) -> bool:
    origin = request.headers.get("origin")
    return origin is not None and site.allows_origin(origin)


def foreign_origin(request: Request, site: Site) -> bool:
    """A cross-site request: an Origin this site did not configure ("null" included), or no Origin
    from a browser that says the request is cross-site (Sec-Fetch-Site)."""
    origin = request.headers.get("origin")
    if origin is None:
        return request.headers.get("sec-fetch-site") == "cross-site"
    return not site.allows_origin(origin)


def cross_site(request: Request) -> bool:
    """The browser calls the request cross-site, and it is no top-level navigation: the browser neither
    sent a SameSite=Lax cookie with it nor keeps one its answer sets. False when it does not say."""
    headers = request.headers
    if headers.get("sec-fetch-site") != "cross-site":
        return False
    return not (headers.get("sec-fetch-mode") == "navigate" and headers.get("sec-fetch-dest") == "document")


def cors_headers(request: Request, *sites: Site) -> dict[str, str]:
    """Echo the Origin when every site the request speaks for allows it (a bulk of hits may name several)."""
    headers = {"Vary": "Origin, Cookie"}
    origin = request.headers.get("origin")
    if origin is not None and sites and all(site.allows_origin(origin) for site in sites):
        headers["Access-Control-Allow-Origin"] = request.headers["origin"]
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def preflight_response(request: Request, site: Site, methods: str = ALLOWED_METHODS) -> Response:
    if not origin_allowed(request, site):
        return Response(status_code=403, headers={"Vary": "Origin"})
    headers = cors_headers(request, site) | {
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
    }
    return Response(status_code=204, headers=headers)
