"""``GET /privacy?site=ID&lang=xx``: the generated privacy notice, for a site's own privacy page.

An HTML fragment by default; Markdown with ``format=md`` (or ``Accept: text/markdown``), JSON with
``format=json``. The language is the first of ``lang``, the site's banner language and the browser's
Accept-Language that the notice is written in (en, de, fr, es, zh-CN; ``de-AT`` counts as de), else
English: an unknown ``lang`` falls back rather than fails, as the banner does, and
``Content-Language`` says which one was used. CORS as for the banner's ``GET /consent``, so a page on
one of the site's origins can fetch the notice into its own privacy page. The notice depends only on
the configuration, so it may be cached for a while and carries an ETag.
"""

from __future__ import annotations

import hashlib
import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.config.settings import Settings
from gateway.config.texts import accept_language
from gateway.rights.notice import FORMATS, build_notice, choose_language, render
from gateway.web.cors import cors_headers, preflight_response

DIGITS = re.compile(r"[0-9]{1,10}")
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8",
               "json": "application/json"}
CACHE_CONTROL = "public, max-age=300"


def _format(request: Request) -> str | None:
    asked = request.query_params.get("format")
    if asked is not None:
        return asked if asked in FORMATS else None
    accept = request.headers.get("accept", "")
    return "md" if "text/markdown" in accept else "html"


async def privacy_notice(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    raw = request.query_params.get("site", "")
    if not DIGITS.fullmatch(raw):
        return JSONResponse({"error": "the site parameter must be a site id"}, status_code=400)
    site = settings.site(int(raw))
    if site is None:
        return JSONResponse({"error": f"unknown site {int(raw)}"}, status_code=404)
    if request.method == "OPTIONS":
        return preflight_response(request, site, methods="GET, OPTIONS")
    headers = cors_headers(request, site) | {"Vary": "Origin, Accept, Accept-Language"}
    fmt = _format(request)
    if fmt is None:
        return JSONResponse({"error": f"format must be one of {', '.join(FORMATS)}"}, status_code=400,
                            headers=headers)
    candidates = [request.query_params.get("lang", "")[:35], site.consent.banner.language,
                  *accept_language(request.headers.get("accept-language", ""))]
    language = choose_language(candidates) or "en"
    body = render(build_notice(site, settings, language), fmt).encode()
    headers |= {"Cache-Control": CACHE_CONTROL, "Content-Language": language,
                "ETag": f'"{hashlib.sha256(body).hexdigest()[:20]}"'}
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)
