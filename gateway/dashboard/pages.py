"""How a dashboard answer is sent: an HTML page, its JSON twin, or CSV, always with the security
headers; and the dashboard's own CSS and JavaScript.

Every page has a twin at the same path with ``.json`` (or ``Accept: application/json``): the stats
API. Templates are rendered with autoescaping and ``StrictUndefined``, so a missing value is an
error in tests rather than an empty hole on a page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

from gateway import __version__
from gateway.dashboard.access import Viewer, csrf_cookie, set_cookie
from gateway.dashboard.security import add_vary, security_headers
from gateway.dashboard.sessions import CSRF_COOKIE, Sessions
from gateway.web.assets import LONG_CACHE, STATIC, Asset
from gateway.web.unavailable import outage

TEMPLATES = Path(__file__).parent / "templates"
ASSET_NAMES = ("dashboard.js", "dashboard.css")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def load_assets(folder: Path = STATIC) -> dict[str, Asset]:
    """The built dashboard CSS and JavaScript, by versioned name (``dashboard.HASH.css``)."""
    found = (Asset.read(folder / name) for name in ASSET_NAMES if (folder / name).is_file())
    return {asset.versioned_name: asset for asset in found}


async def static_asset(request: Request) -> Response:
    assets: dict[str, Asset] = request.app.state.dashboard_assets
    asset = assets.get(request.path_params["name"])
    if asset is None:
        return PlainTextResponse("not found", status_code=404)
    return asset.response(request, LONG_CACHE)


def split_suffix(name: str) -> tuple[str, str | None]:
    """``pages.json`` -> ("pages", "json"); a name without a known suffix keeps it."""
    stem, dot, suffix = name.rpartition(".")
    return (stem, suffix) if dot and suffix in ("json", "csv") else (name, None)


def json_suffix(request: Request) -> str | None:
    """"json" for a page's twin path (``/dashboard/1.json``), else None."""
    return "json" if request.url.path.endswith(".json") else None


def wanted(request: Request, suffix: str | None) -> str:
    """html, json or csv: the path's suffix wins, then the Accept header."""
    if suffix is not None:
        return suffix
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return "json"
    return "html"


def common(request: Request, who: Viewer | None) -> tuple[dict[str, Any], str | None]:
    """What every page shows, and the CSRF cookie to set when this browser has none yet."""
    state = request.app.state
    sessions: Sessions = state.sessions
    cookie, new = csrf_cookie(request)
    assets: dict[str, Asset] = state.dashboard_assets
    urls = {name.rpartition(".")[2]: f"/dashboard/static/{name}" for name in assets}
    geo = getattr(getattr(state, "resources", None), "geo", None)
    credits = geo.attributions if geo is not None else ()  # the city database's, and the ASN one's
    return {
        "assets": {"js": urls.get("js", ""), "css": urls.get("css", "")},
        "user": None if who is None or who.user is None else {"name": who.user.name, "role": who.user.role},
        "shared": who is not None and who.share is not None,
        "csrf": sessions.csrf_token(cookie),
        "attributions": [{"text": credit.text, "url": credit.url} for credit in credits],
        "version": __version__,
    }, (cookie if new else None)


def render(request: Request, template: str, context: Mapping[str, Any], *, status: int = 200,
           viewer_: Viewer | None = None) -> Response:
    base, new_cookie = common(request, viewer_)
    html = request.app.state.templates.get_template(template).render({**base, **context})
    shared = viewer_ is not None and viewer_.share is not None
    response = security_headers(HTMLResponse(html, status_code=status), shared=shared)
    if new_cookie is not None:
        set_cookie(request, response, CSRF_COOKIE, new_cookie, None)
    return response


def json_response(data: Any, status: int = 200) -> Response:
    response = security_headers(JSONResponse(data, status_code=status))
    add_vary(response, "Accept", "Authorization")
    return response


def redirect(url: str, *, shared: bool = False) -> Response:
    return security_headers(RedirectResponse(url, status_code=303), shared=shared)


def error_page(request: Request, status: int, message: str, *, as_json: bool = False,
               viewer_: Viewer | None = None) -> Response:
    if as_json:
        return json_response({"error": message}, status)
    return render(request, "error.html", {"status": status, "message": message}, status=status,
                  viewer_=viewer_)


def unavailable_page(request: Request, what: str, message: str, *, as_json: bool = False,
                     viewer_: Viewer | None = None, cause: BaseException | None = None) -> Response:
    """ClickHouse did not answer: the error page (or its JSON) as a 503 with Retry-After, counted."""
    return outage(request, what, error_page(request, 503, message, as_json=as_json, viewer_=viewer_), cause)


def csv_cell(value: Any) -> Any:
    """A value safe to open in a spreadsheet: text that looks like a formula is quoted (OWASP)."""
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_START):
        return "'" + value
    return value


def csv_response(columns: Sequence[Mapping[str, str]], rows: Sequence[Mapping[str, Any]],
                 filename: str, *, truncated: bool = False) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c["key"] for c in columns])
    for row in rows:
        writer.writerow([csv_cell(row.get(c["key"], "")) for c in columns])
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if truncated:  # more rows exist than one export holds; the JSON API pages through all of them
        headers["X-Truncated"] = "true"
    response = Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    return security_headers(response)
