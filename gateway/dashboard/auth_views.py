"""Logging in and out, and opening a share link.

The login form is a plain POST (no JavaScript needed), read by ``gateway.web.bodies``, checked for its
CSRF token, throttled per (user name, client) and per client before the password is even looked at
(``throttle``: growing delays, never a lock-out of the real user), and answered the same way for an
unknown user and a wrong password. The session is a signed cookie; changing a password ends every
session of that user (the cookie carries a fingerprint of the password hash).

Through a local reverse proxy that ``GATEWAY_TRUSTED_PROXIES`` leaves out (``gateway.web.proxy``), every
client is the proxy: one network, so a stranger's failures would slow the real admin at every
attempt, and a stranger who waits out each delay takes every attempt the admin might have had.
Keying by the address the proxy forwards is no safer: a proxy that relays what clients send would let
a guesser pick a fresh network per attempt. So such logins are refused (403) with a page that says
what to set, and the log and ``/-/health`` say it too: loud, never a silent lock-out, and no guessing.
A session opened before, and a login made without the proxy (an SSH tunnel), work as ever.
"""

from __future__ import annotations

import asyncio
import logging
import math

from starlette.requests import Request
from starlette.responses import Response

from gateway.dashboard.access import clear_cookie, csrf_cookie, safe_next, set_cookie, viewer
from gateway.dashboard.pages import error_page, redirect, render
from gateway.dashboard.sessions import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    SHARE_COOKIE,
    SHARE_MAX_AGE,
    Sessions,
)
from gateway.dashboard.throttle import LoginThrottle
from gateway.dashboard.users import UsersFileError, UserStore
from gateway.web import bodies
from gateway.web.proxy import client_ip, undeclared_proxy

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 8192
LOGIN_METRIC = "dashboard_login"  # failed, throttled, undeclared-proxy
USERS_FILE_DOWN = "Logins are unavailable: the dashboard users file cannot be read (see the server log)."
UNDECLARED_PROXY = ("Logins through this reverse proxy are refused: the gateway cannot tell its visitors "
                    "apart, so one visitor's wrong passwords would slow everyone's logins. The operator must "
                    "list the proxy's address in GATEWAY_TRUSTED_PROXIES and restart; /-/health, read with "
                    "the operator token, shows the address the proxy connects from.")


async def read_form(request: Request) -> dict[str, str] | None:
    """A dashboard form, or None when it cannot be read (not a form, too large, cut short: counted
    by ``gateway.web.bodies``)."""
    try:
        return await bodies.read_form(request, MAX_FORM_BYTES)
    except bodies.BodyError:
        return None


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    sessions: Sessions = request.app.state.sessions
    return sessions.check_csrf(request.cookies.get(CSRF_COOKIE), form.get("csrf"))


def _client_key(request: Request) -> str:
    # Only ever handed to the throttle, which keeps a keyed hash of it in memory.
    return client_ip(request.scope, request.app.state.trusted_proxies) or "unknown"


async def login(request: Request) -> Response:
    state = request.app.state
    store: UserStore = state.users
    if request.method in ("GET", "HEAD"):  # HEAD reads the page: it never signs anyone in
        current = viewer(request, api=False)
        if current is not None and current.user is not None:
            return redirect(safe_next(request.query_params.get("next")))
        if undeclared_proxy(request.scope, state.trusted_proxies):  # said before a password is typed
            return error_page(request, 403, UNDECLARED_PROXY)
        return login_form(request, next_url=safe_next(request.query_params.get("next")))
    try:
        form = await bodies.read_form(request, MAX_FORM_BYTES)
    except bodies.BodyError as exc:  # 400 when cut short; nobody is left to see it then
        return error_page(request, exc.status, "The login form could not be read.")
    if undeclared_proxy(request.scope, state.trusted_proxies):
        state.metrics.count(LOGIN_METRIC, "undeclared-proxy")
        return error_page(request, 403, UNDECLARED_PROXY)
    next_url = safe_next(form.get("next"))
    username = form.get("username", "").strip()[:64]
    if not _csrf_ok(request, form):
        return login_form(request, next_url=next_url, username=username, status=403,
                          error="The form expired. Please try again.")
    throttle: LoginThrottle = state.throttle
    client = _client_key(request)
    wait = throttle.reserve(username, client, throttle.clock())
    if wait > 0:
        state.metrics.count(LOGIN_METRIC, "throttled")
        seconds = max(1, math.ceil(wait))
        response = login_form(request, next_url=next_url, username=username, status=429, retry_after=seconds)
        response.headers["Retry-After"] = str(seconds)
        return response
    try:
        user = await asyncio.to_thread(store.verify, username, form.get("password", ""))
    except UsersFileError:
        throttle.release(username, client)
        return error_page(request, 503, USERS_FILE_DOWN)
    if user is None:  # the attempt was counted as a failure by reserve()
        # Neither the name (it may be a password typed into the wrong box) nor the client is logged.
        log.info("dashboard login failed")
        state.metrics.count(LOGIN_METRIC, "failed")
        throttle.failed(username, client, throttle.clock())
        return login_form(request, next_url=next_url, username=username, status=401,
                          error="Wrong user name or password.")
    throttle.succeeded(username, client)
    sessions: Sessions = state.sessions
    response = redirect(next_url)
    set_cookie(request, response, SESSION_COOKIE, sessions.issue(user), SESSION_MAX_AGE)
    clear_cookie(request, response, SHARE_COOKIE)
    # A new CSRF secret per session: a token seen before logging in is worth nothing after.
    set_cookie(request, response, CSRF_COOKIE, sessions.new_csrf_cookie(), None)
    return response


def login_form(request: Request, *, next_url: str, username: str = "", status: int = 200,
               error: str | None = None, retry_after: int | None = None) -> Response:
    store: UserStore = request.app.state.users
    try:
        no_users = not store.users()
    except UsersFileError:
        return error_page(request, 503, USERS_FILE_DOWN)
    return render(request, "login.html", {"error": error, "username": username, "next": next_url,
                                          "retry_after": retry_after, "no_users": no_users},
                  status=status, viewer_=None)


async def logout(request: Request) -> Response:
    try:
        form = await bodies.read_form(request, MAX_FORM_BYTES)
    except bodies.BodyError as exc:
        return error_page(request, exc.status, "The logout form could not be read.")
    if not _csrf_ok(request, form):
        return error_page(request, 403, "The form expired. Reload the page and try again.")
    current = viewer(request, api=False)
    if current is not None and current.user is not None:
        store: UserStore = request.app.state.users
        try:
            await asyncio.to_thread(store.end_sessions, current.user.name)
        except (OSError, UsersFileError) as exc:  # the cookie is still cleared below
            log.warning("could not end the sessions of a dashboard user: %s", exc)
    response = redirect("/dashboard/login")
    for name in (SESSION_COOKIE, SHARE_COOKIE, CSRF_COOKIE):
        clear_cookie(request, response, name)
    return response


async def shared(request: Request) -> Response:
    """``/dashboard/shared?key=TOKEN``: trade a share link's key for a cookie, then show its site.
    The key is in the query string, which the access log never writes."""
    store: UserStore = request.app.state.users
    try:
        link = store.find_share(request.query_params.get("key", ""))
    except UsersFileError:
        return error_page(request, 503, USERS_FILE_DOWN)
    if link is None:
        return error_page(request, 404, "This share link is not valid (it may have been revoked).")
    sessions: Sessions = request.app.state.sessions
    response = redirect(f"/dashboard/{link.site_id}", shared=True)
    set_cookie(request, response, SHARE_COOKIE, sessions.issue_share(link), SHARE_MAX_AGE)
    value, _ = csrf_cookie(request)
    set_cookie(request, response, CSRF_COOKIE, value, None)
    return response
