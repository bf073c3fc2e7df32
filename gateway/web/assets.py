"""Browser files the gateway serves: the consent banner, the tracker and the demo page.

The scripts are built from ``consent_banner/`` and ``tracker_js/`` into ``gateway/static/`` and
committed, so the service needs no Node.js at run time; CI rebuilds them and fails when what is
served differs from the source. Each script is read once at start-up and answered from memory,
gzip-compressed when the browser accepts it, at two URLs:

- ``/banner.js``, ``/t.js``: the stable URLs site owners paste; cached for a few minutes and
  revalidated with the ETag, so a gateway upgrade reaches every page quickly;
- ``/banner.HASH.js``, ``/t.HASH.js``: the versioned URLs (``/-/version`` names them), cached for a
  year, immutable, for pages that pin a version or use Subresource Integrity. An outdated hash
  redirects to the stable URL (a page pinning the old file with SRI then refuses it, as SRI should).

``/t`` without ``.js`` is the tracking endpoint (``gateway.ingest.endpoint``), not a script.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

STATIC = Path(__file__).parents[1] / "static"
SCRIPTS = ("banner.js", "t.js")
SHORT_CACHE = "public, max-age=300, must-revalidate"
LONG_CACHE = "public, max-age=31536000, immutable"
JAVASCRIPT = "text/javascript; charset=utf-8"
MEDIA_TYPES = {"js": JAVASCRIPT, "css": "text/css; charset=utf-8"}
VERSIONED = re.compile(r"(?P<stem>[a-z]+)\.(?P<hash>[0-9a-f]{12})\.js")
DEMO_FILES = {"": ("index.html", "text/html; charset=utf-8"), "demo.css": ("demo.css", "text/css"),
              "demo.js": ("demo.js", JAVASCRIPT), "gated.js": ("gated.js", JAVASCRIPT)}
# A public script: any page may load it, also with crossorigin (SRI) or under COEP.
PUBLIC = {"X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*",
          "Cross-Origin-Resource-Policy": "cross-origin"}
# The demo page proves the banner needs no inline script or style: it runs under this policy.
DEMO_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    body: bytes
    gzipped: bytes
    digest: str  # the first 12 hex digits of its SHA-256

    @classmethod
    def read(cls, path: Path) -> Asset:
        body = path.read_bytes()
        # mtime=0: the same bytes on every start, so the gzip form is as stable as the ETag.
        return cls(path.name, body, gzip.compress(body, 9, mtime=0), hashlib.sha256(body).hexdigest()[:12])

    @property
    def versioned_name(self) -> str:
        stem, _, suffix = self.name.rpartition(".")
        return f"{stem}.{self.digest}.{suffix}"

    def response(self, request: Request, cache_control: str) -> Response:
        gzipped = accepts_gzip(request.headers.get("accept-encoding", ""))
        # One ETag per representation: a cache must not answer a gzip request with the plain body.
        etag = f'"{self.digest}-gz"' if gzipped else f'"{self.digest}"'
        headers = {"Cache-Control": cache_control, "ETag": etag, "Vary": "Accept-Encoding"} | PUBLIC
        if_none_match = request.headers.get("if-none-match", "")
        if if_none_match.strip() == "*" or etag in if_none_match:
            return Response(status_code=304, headers=headers)
        body = self.body
        if gzipped:
            body, headers["Content-Encoding"] = self.gzipped, "gzip"
        return Response(body, media_type=MEDIA_TYPES[self.name.rpartition(".")[2]], headers=headers)


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (``gzip;q=0`` refuses it)."""
    for part in header.lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() in ("gzip", "*"):
            name, _, value = params.partition("=")
            if name.strip() != "q":
                return True
            try:
                return float(value) > 0
            except ValueError:
                return False
    return False


def script_paths() -> list[str]:
    """Route paths: the stable and the versioned URL of every script."""
    return [path for name in SCRIPTS for path in (f"/{name}", f"/{name.removesuffix('.js')}.{{digest}}.js")]


def load_scripts(folder: Path = STATIC) -> dict[str, Asset]:
    """The built scripts present in ``folder``, by name."""
    return {name: Asset.read(folder / name) for name in SCRIPTS if (folder / name).is_file()}


async def script(request: Request) -> Response:
    scripts: dict[str, Asset] = request.app.state.scripts
    name = request.url.path.removeprefix("/")
    if (asset := scripts.get(name)) is not None:
        return asset.response(request, SHORT_CACHE)
    if (match := VERSIONED.fullmatch(name)) and (asset := scripts.get(f"{match['stem']}.js")) is not None:
        if match["hash"] == asset.digest:
            return asset.response(request, LONG_CACHE)
        # Relative, so it also works behind a path prefix; CORS, so a crossorigin <script> follows it.
        return RedirectResponse(asset.name, status_code=302, headers={"Cache-Control": "no-store"} | PUBLIC)
    return PlainTextResponse(f"no such script: {name[:60]}", status_code=404)


async def demo(request: Request) -> Response:
    """``/demo/``: a small catalogue page that embeds the banner, served only for the demo site."""
    if not request.app.state.demo:
        return PlainTextResponse("the demo page is served only while no sites are configured", 404)
    entry = DEMO_FILES.get(request.path_params.get("file", ""))
    if entry is None:
        return PlainTextResponse("not found", 404)
    name, media_type = entry
    return Response((STATIC / "demo" / name).read_bytes(), media_type=media_type,
                    headers={"Content-Security-Policy": DEMO_CSP, "Cache-Control": "no-cache",
                             "X-Content-Type-Options": "nosniff"})
