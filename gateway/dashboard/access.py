"""Who is asking for a dashboard, and whether they may see a site.

Three ways in, checked in this order:
- a site's API token as ``Authorization: Bearer ...``: that site's JSON and CSV only (the stats API).
  A token no site has is no one (401); a valid token sent for another site is someone without access
  to it (403), as a viewer asking for a site not assigned to them;
- a logged-in user's session cookie: admins see every site, viewers their assigned ones;
- a share link's cookie: one site, read-only, until the link is revoked.

Forms are protected against cross-site requests twice: the cookies are ``SameSite=Strict``, and every
POST carries a token derived from a random per-browser cookie (double submit, signed).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from gateway.config.sites import Site
from gateway.dashboard.sessions import CSRF_COOKIE, SESSION_COOKIE, SHARE_COOKIE, Sessions, cookie_options
from gateway.dashboard.users import ShareLink, User, UserStore
from gateway.web.proxy import request_is_https


@dataclass(frozen=True, slots=True)
class Viewer:
    user: User | None = None
    share: ShareLink | None = None
    token_sites: frozenset[int] = frozenset()  # the sites whose API token was sent (one, unless shared)

    def can_view(self, site_id: int) -> bool:
        if self.user is not None:
            return self.user.can_view(site_id)
        if self.share is not None:
            return self.share.site_id == site_id
        return site_id in self.token_sites

    def visible(self, sites: tuple[Site, ...]) -> list[Site]:
        return [site for site in sites if self.can_view(site.id)]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def token_sites(token: str, sites: Iterable[Site]) -> frozenset[int]:
    """The sites whose API token ``token`` is. Compared with every site's token in constant time, and
    never stopping at a match, so the time taken does not tell which site a token belongs to."""
    presented = token.encode("utf-8", "replace")
    return frozenset(site.id for site in sites
                     if site.token and hmac.compare_digest(presented, site.token.encode()))


def viewer(request: Request, *, api: bool) -> Viewer | None:
    """The caller, or None when nobody is authenticated. ``api``: JSON or CSV was asked for, where a
    site token counts; a page never takes a token (it would end up in browser history and caches).

    Any site's token authenticates, whichever site is asked for: the caller then gets the 403 of
    someone without access to that site, not a 401 that would say the token is wrong. A token no site
    has is nobody (401); a token never falls back to the cookies."""
    state = request.app.state
    if api and (token := bearer_token(request)) is not None:
        sites: dict[int, Site] = state.sites_by_id
        found = token_sites(token, sites.values())
        return Viewer(token_sites=found) if found else None
    sessions: Sessions = state.sessions
    store: UserStore = state.users
    user = sessions.user(request.cookies.get(SESSION_COOKIE), store)
    if user is not None:
        return Viewer(user=user)
    share = sessions.share(request.cookies.get(SHARE_COOKIE), store)
    if share is not None:
        return Viewer(share=share)
    return None


def is_https(request: Request) -> bool:
    return request_is_https(request.scope, request.app.state.trusted_proxies)


def csrf_cookie(request: Request) -> tuple[str, bool]:
    """This browser's CSRF cookie value, and whether it is new (to be set on the response)."""
    value = request.cookies.get(CSRF_COOKIE)
    if value:
        return value, False
    sessions: Sessions = request.app.state.sessions
    return sessions.new_csrf_cookie(), True


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, **cookie_options(is_https(request)))


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, **cookie_options(is_https(request)))


def safe_next(target: str | None) -> str:
    """Where to go after logging in: only a dashboard path of this gateway, never another host."""
    if not target or not target.startswith("/dashboard") or "//" in target or "\\" in target:
        return "/dashboard"
    return target
