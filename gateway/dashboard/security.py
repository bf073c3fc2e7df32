"""HTTP headers every dashboard response carries: a strict CSP, no framing, no caching of private data.

The CSP allows nothing inline (scripts, styles, style attributes) and nothing from other origins, so
an injected string cannot run or phone home; the dashboard's JavaScript and CSS are files of this
gateway. Share-link pages send no Referer at all: their URL may hold the secret key.
"""

from __future__ import annotations

from starlette.responses import Response

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), microphone=(), payment=(), "
                      "usb=(), browsing-topics=()")


def security_headers(response: Response, *, private: bool = True, shared: bool = False) -> Response:
    """Set the security headers on ``response`` and return it. ``private``: the body depends on who
    asks (every dashboard page and its JSON), so no cache may keep it; ``shared``: a share-link page."""
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer" if shared else "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    if private:
        no_store(response)
    return response


def no_store(response: Response) -> Response:
    """Never cached, by the browser (back button on a shared computer) or by a proxy."""
    response.headers["Cache-Control"] = "no-store"
    add_vary(response, "Cookie")
    return response



def add_vary(response: Response, *fields: str) -> Response:
    """Add ``fields`` to the Vary header, keeping those already there (e.g. ``Accept`` for the JSON
    twins chosen by content negotiation)."""
    present = [f.strip() for f in response.headers.get("Vary", "").split(",") if f.strip()]
    known = {f.lower() for f in present}
    for name in fields:
        if name.lower() not in known:
            present.append(name)
            known.add(name.lower())
    if present:
        response.headers["Vary"] = ", ".join(present)
    return response
