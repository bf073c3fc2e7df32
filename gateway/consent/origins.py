"""What the consent API tells the operator about the pages its requests come from, once per origin.

Two set-up mistakes break a banner while the gateway answers as designed, so nothing else would say
why. A page on an origin its site did not configure gets no CORS headers: the browser refuses the
answers (a CORS error in the page's console) and shows no banner. A page cross-site with the gateway
(``Sec-Fetch-Site: cross-site``: a page on www.example.org, the gateway on stats.example.com) has its
decision logged and answered, but the browser keeps no SameSite=Lax cookie from a cross-site answer:
the banner asks again on every page and every hit is dropped as ``no-consent`` (gateway/consent/record.py
keeps such decisions out of the statistics). Each mistake is logged as a WARNING naming the setting or
the fix, once per origin and site, and once per origin.

The origins are the requests' own word: the lines are bounded and rate-limited (gateway/web/warn_once.py)
and the origin is quoted and cut short. Nothing about the client (its address) is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from gateway.config.sites import Site
from gateway.web.cors import cross_site
from gateway.web.warn_once import WarnOnce, shown

log = logging.getLogger(__name__)
DOCS = "docs/embed.md#the-banner-comes-back-on-every-page"
MAX_ORIGINS = 256  # remembered per kind and process; then the kind falls silent until a restart
LINES_PER_MINUTE = 10  # per kind and process


@dataclass(frozen=True, slots=True)
class OriginWarnings:
    """The warnings of one process (``app.state.origin_warnings``, made by the app)."""

    unconfigured: WarnOnce
    cross_site: WarnOnce

    @classmethod
    def new(cls) -> OriginWarnings:
        return cls(WarnOnce(log, "warnings about unconfigured origins", max_keys=MAX_ORIGINS,
                            per_minute=LINES_PER_MINUTE),
                   WarnOnce(log, "warnings about cross-site pages", max_keys=MAX_ORIGINS,
                            per_minute=LINES_PER_MINUTE))


def warn_about_origin(request: Request, site: Site) -> None:
    """Log, once, why a page on this request's origin cannot use the banner (if it cannot)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    state = request.app.state
    if not site.allows_origin(origin):
        quoted = shown(origin)
        state.origin_warnings.unconfigured.warn(
            (quoted, site.id), "consent API: a page on %s asked for site %d, which does not allow that "
            "origin: the browser refuses the answer (a CORS error in the page's console) and shows no "
            "banner. %s",
            quoted, site.id, _unconfigured_fix(state, site))
    elif request.method in ("POST", "DELETE") and cross_site(request):
        quoted = shown(origin)
        state.origin_warnings.cross_site.warn(
            quoted, "consent API: a decision for site %d came from a page on %s, which is cross-site with "
            "the gateway: the browser will not keep the consent cookie (SameSite=Lax), so the banner asks "
            "again on every page and every hit is dropped as no-consent. Serve the gateway same-site with "
            "the page (e.g. on stats.example.com for www.example.com); see %s", site.id, quoted, DOCS)


def _unconfigured_fix(state: Any, site: Site) -> str:
    if getattr(state, "demo", False):
        return ("The demo site allows only pages on http://localhost and http://127.0.0.1: configure your "
                "own site, a [[sites]] table with its `origins`, in the TOML file named by GATEWAY_CONFIG.")
    config_file = state.settings.config_file
    where = str(config_file) if config_file else "the file named by GATEWAY_CONFIG"
    return f"If the page is yours, add its origin to `origins` in the [[sites]] table with id = {site.id} " \
           f"of {where}."
